/* fixture-no-entry.c - ABI fixture: a shared module without vigil_plugin_entry */
#include <vigil/version.h>

/*
 * A library that is not a vigil plugin (or one whose entry point was
 * misspelt): it exports a symbol, just not the one the loader looks for.
 */
VIGIL_EXPORT int vigil_fixture_not_a_plugin(void);
VIGIL_EXPORT int vigil_fixture_not_a_plugin(void)
{
	return 42;
}
