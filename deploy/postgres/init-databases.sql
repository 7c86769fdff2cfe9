-- One database per service plus the shared auth database; `touchpoint setup` migrates them.
CREATE DATABASE touchpoint_auth;
CREATE DATABASE touchpoint_contacts;
CREATE DATABASE touchpoint_campaigns;
CREATE DATABASE touchpoint_channels;
CREATE DATABASE touchpoint_scheduler;
