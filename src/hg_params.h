/*
 * hg_params.h
 *    From a job's params jsonb to the model's hg_config: every key checked
 *    by the model's own table (unknown key, wrong type, out of range are
 *    errors with SQLSTATE 22023 naming the key and its range), fixed
 *    receivers given inline or by the name of a network in
 *    heimdall_gen.receivers.
 */
#ifndef HG_PARAMS_H
#define HG_PARAMS_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "hg_model.h"

/*
 * Fill cfg (initialised to defaults first) from params; ERROR on bad input.
 * A "receiver_network" is looked up among the current role's networks when
 * allow_network, else refused (stored params hold their receivers inline).
 * allow_network also marks params a user gives now, held to checks that
 * params stored with a dataset are not (they must stay readable as made).
 */
extern void hg_params_to_config(Jsonb *params, hg_config *cfg, bool allow_network);

/* The resolved configuration as jsonb (every default written out). */
extern Jsonb *hg_config_to_jsonb(const hg_config *cfg);

#endif							/* HG_PARAMS_H */
