import { showOrders } from '../orders-view.js';
await showOrders('landlord');
