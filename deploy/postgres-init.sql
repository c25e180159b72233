-- Each service owns its database (architecture.md): nobody reads another service's tables.
CREATE DATABASE orders;
CREATE DATABASE aggregator;
CREATE DATABASE supplier_gateway;
