/* main.c - (being written) */
