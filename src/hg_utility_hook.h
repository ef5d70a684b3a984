/*
 * hg_utility_hook.h
 *    DROP EXTENSION heimdall_gen also drops the heimdall_gen_admin role
 *    when the extension created it (roles are cluster-wide objects, so they
 *    cannot be members of an extension; see hg_utility_hook.c).
 */
#ifndef HG_UTILITY_HOOK_H
#define HG_UTILITY_HOOK_H

extern void hg_install_utility_hook(void);

#endif							/* HG_UTILITY_HOOK_H */
