-- DEVELOPER CLUSTER ONLY: fixed development passwords (the same as in kustomization.yaml's
-- kantoor-local-database URLs). One role and one database per component that has a database, each role
-- owning only its own database, as a production server would give them: a component cannot read another's
-- tables. Run once by the postgres image (/docker-entrypoint-initdb.d) when its data directory is empty; a
-- component added later needs `kubectl delete -k deploy/local` (which drops the data) or these two lines
-- typed into psql.
CREATE ROLE gateway LOGIN PASSWORD 'gateway-dev-password';
CREATE DATABASE gateway OWNER gateway;
CREATE ROLE directory LOGIN PASSWORD 'directory-dev-password';
CREATE DATABASE directory OWNER directory;
CREATE ROLE document_intake LOGIN PASSWORD 'document-intake-dev-password';
CREATE DATABASE document_intake OWNER document_intake;
CREATE ROLE archive LOGIN PASSWORD 'archive-dev-password';
CREATE DATABASE archive OWNER archive;
CREATE ROLE invoicing LOGIN PASSWORD 'invoicing-dev-password';
CREATE DATABASE invoicing OWNER invoicing;
CREATE ROLE backup LOGIN PASSWORD 'backup-dev-password';
CREATE DATABASE backup OWNER backup;
CREATE ROLE notification LOGIN PASSWORD 'notification-dev-password';
CREATE DATABASE notification OWNER notification;
-- every accounting connector Deployment shares this one (accountingConnector.database in the chart)
CREATE ROLE accounting_connector LOGIN PASSWORD 'accounting-connector-dev-password';
CREATE DATABASE accounting_connector OWNER accounting_connector;
