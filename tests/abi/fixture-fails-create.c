/* fixture-fails-create.c - ABI fixture: a source whose create() fails with a logged reason */
#include <errno.h>

#include <vigil/plugin.h>

static int fixture_create(const struct vigil_host *host, void **state)
{
	(void)state;
	host->log(host->inst, VIGIL_LOG_ERROR, "cannot reach the moon");
	return -ECONNREFUSED;
}

/* Never called: create() never succeeds. */
static void fixture_destroy(void *state)
{
	(void)state;
}

static int fixture_poll(void *state)
{
	(void)state;
	return -EINVAL;
}

static const struct vigil_plugin_methods fixture_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = fixture_create,
	.destroy = fixture_destroy,
	.poll = fixture_poll,
};

static const struct vigil_plugin fixture_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fixture-fails-create",
	.version = "1.0",
	.description = "ABI fixture: create() fails",
	.kind = VIGIL_PLUGIN_SOURCE,
	.methods = &fixture_methods,
};

VIGIL_PLUGIN_DEFINE(fixture_plugin)
