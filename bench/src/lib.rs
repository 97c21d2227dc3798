//! ihome-bench: the benchmark driver's building blocks and the native
//! baseline's queries. `scripts/bench` builds and runs it.

pub mod dates;
pub mod detail;
pub mod landlord;
pub mod pg;
pub mod procs;
pub mod seed;
pub mod slow;
pub mod wrk;
