/* plugin-host.c - (being written) */
