/* scheduler.c - (being written) */
