# A sketch of fdfs-proxy's image (not built by the tests: no container
# runtime here). From the repository root:
#   docker build -f deploy/fdfs-proxy.Dockerfile -t registry.example.com/ihome/fdfs-proxy:0.1.0 .
#   docker push registry.example.com/ihome/fdfs-proxy:0.1.0
# deploy/k8s/20-fdfs-proxy.yaml runs it as uid/gid 65532 with a read-only
# root file system and its spool on an emptyDir at /var/lib/fdfs-proxy.

# Edition 2024 needs Rust 1.85 or later.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Only fdfs-proxy and its dependencies are built; Cargo.lock pins them.
RUN cargo build --release --locked -p fdfs-proxy \
 && install -D target/release/fdfs-proxy /out/fdfs-proxy

# glibc and libgcc, nothing else (fdfs-proxy links no TLS library).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/fdfs-proxy /usr/local/bin/fdfs-proxy
USER 65532:65532
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/fdfs-proxy"]
# Without arguments it would listen on loopback with a local-disk store:
# the Deployment passes --listen, --state-dir and the trackers.
CMD ["--listen=0.0.0.0:8090", "--state-dir=/var/lib/fdfs-proxy"]
