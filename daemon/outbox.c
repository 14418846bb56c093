/* outbox.c - (being written) */
