/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway: `infergate gateway`, the proxy. It reads agentgateway's local configuration file
 * (include/ig/config.h), serves every bind on every worker thread (SO_REUSEPORT), routes each
 * request with the snapshot's route matcher and streams it to an upstream origin through a
 * per-worker keep-alive pool; it also serves the admin, stats and readiness ports and reloads the
 * file when it changes. See docs/operations.md.
 */
#ifndef IG_GATEWAY_H
#define IG_GATEWAY_H

/**
 * Runs the gateway with the command line |argv[0..argc)| (argv[0] is the subcommand name):
 * `-f FILE` | `-c INLINE`, `--validate-only`, `--help`. Returns the process exit status: 0 after
 * a drain (SIGTERM, SIGINT, /quitquitquit) or a valid --validate-only, 1 when start-up fails, 2
 * for a bad command line or an invalid configuration (errors printed as file:line:col).
 */
int ig_gateway_main(int argc, char **argv);

#endif
