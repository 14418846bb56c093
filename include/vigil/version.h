/* version.h - the plugin ABI version and the vigil release version */
#ifndef VIGIL_VERSION_H
#define VIGIL_VERSION_H

/*
 * ABI rules (see docs/plugins.md):
 * - MAJOR changes when a boundary struct changes incompatibly; the loader
 *   refuses plugins built against a different major.
 * - MINOR grows when members are appended at the end of a boundary struct or
 *   new host functions appear; the loader refuses a plugin built against a
 *   newer minor than the host's (it may call what the host does not have).
 */
#define VIGIL_ABI_MAJOR 1
#define VIGIL_ABI_MINOR 1

#define VIGIL_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define VIGIL_EXPORT __attribute__((visibility("default")))
#define VIGIL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VIGIL_EXPORT
#define VIGIL_PRINTF(fmt, args)
#endif

#endif
