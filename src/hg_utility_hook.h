/*
 * hg_utility_hook.h
 *    The ProcessUtility hook (hg_utility_hook.c): it guards the extension's
 *    schema and tables against adoption and strong locks, refuses to drop
 *    the extension while jobs are queued or running, and drops the
 *    heimdall_gen_admin role with the extension when the extension created
 *    it (roles are cluster-wide objects, so they cannot be members of an
 *    extension).
 */
#ifndef HG_UTILITY_HOOK_H
#define HG_UTILITY_HOOK_H

extern void hg_install_utility_hook(void);

#endif							/* HG_UTILITY_HOOK_H */
