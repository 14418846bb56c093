/* daemon.c - (being written) */
