/*
 * daemon.h - the daemon's life: start every part in order, wait for signals,
 * stop every part in reverse order; and the checks behind --check-config.
 */
#ifndef FS_DAEMON_H
#define FS_DAEMON_H

/* Runs until SIGTERM or SIGINT. Returns the process exit code. The caller
 * has blocked SIGTERM, SIGINT, SIGHUP and SIGPIPE in every thread. */
int fs_daemon_run(const char *config_path, const char *plugin_dir);

/* Loads the config and opens and configures every plugin it names, printing
 * what is wrong to stderr. Returns the exit code (0: valid). */
int fs_daemon_check_config(const char *config_path, const char *plugin_dir);

/* Prints a plugin's description and its config keys (from its option
 * table). kind is "queue", "inventory" or "storage". Returns the exit code. */
int fs_daemon_help_plugin(const char *kind, const char *name,
                          const char *plugin_dir);

/* The plugin directory: the command line's, else the config's plugins.dir,
 * else $FLASHSALED_PLUGIN_DIR, else the compiled-in $(pkglibdir). */
const char *fs_daemon_plugin_dir(const char *cli_dir, const char *config_dir);

#endif
