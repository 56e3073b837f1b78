"""MS4 dispatching: release of orders into job orders, dispatch lists, order and job order state machines."""
