/* yaml.c - (being written) */
