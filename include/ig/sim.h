/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim: a vLLM-compatible model-server simulator (`infergate sim`).
 */
#ifndef IG_SIM_H
#define IG_SIM_H

/** Entry point of `infergate sim`; |argv[0]| is "sim". Returns the process exit status. */
int ig_sim_main(int argc, char **argv);

#endif
