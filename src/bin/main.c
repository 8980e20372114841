/* SPDX-License-Identifier: Apache-2.0 */
/*
 * infergate: one binary, one subcommand per job. Argument dispatch and wiring only.
 */
#include <stdio.h>
#include <string.h>

#include "ig/bench.h"
#include "ig/epp.h"
#include "ig/gateway.h"
#include "ig/sim.h"

#define IG_VERSION "0.1.0"

struct subcommand {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
};

static const struct subcommand subcommands[] = {
    {"gateway", "the proxy: agentgateway's local configuration (-f FILE)", ig_gateway_main},
    {"sim", "a vLLM-compatible model-server simulator", ig_sim_main},
    {"bench", "a load generator for inference workloads", ig_bench_main},
    {"epp", "the Endpoint Picker: ext_proc server, scheduler and model-server scraper", ig_epp_main},
    {"demo", "the standalone stack on this machine: round robin vs inference routing, side by side", ig_demo_main},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: infergate <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\n`infergate <command> --help` describes each command's options.\n");
    fprintf(out, "`infergate -f FILE` runs the gateway, as agentgateway does.\n");
}

int main(int argc, char **argv)
{
    ig_demo_child_init();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("infergate %s\n", IG_VERSION);
        return 0;
    }
    /* `infergate -f FILE` / `-c CONFIG` (no subcommand) is the gateway, as agentgateway's command line. */
    if (cmd[0] == '-' && (strcmp(cmd, "-f") == 0 || strcmp(cmd, "-c") == 0 || strncmp(cmd, "--file", 6) == 0 ||
                          strncmp(cmd, "--config", 8) == 0 || strcmp(cmd, "--validate-only") == 0))
        return ig_gateway_main(argc, argv);
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(cmd, subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    }
    fprintf(stderr, "infergate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
