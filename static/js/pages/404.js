import { initPage } from '../ui.js';
await initPage();
