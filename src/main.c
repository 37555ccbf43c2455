/* main.c - command line, signal mask, and the subcommands. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_autoconf.h"

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: flashsaled --config FILE [--plugin-dir DIR]\n"
        "       flashsaled --check-config FILE [--plugin-dir DIR]\n"
        "       flashsaled token --config FILE --user ID [--ttl SECONDS]\n"
        "       flashsaled --help-plugin KIND NAME [--plugin-dir DIR]\n"
        "       flashsaled --version | --help\n"
        "\n"
        "Runs the flashsaled flash-sale booking daemon in the foreground,\n"
        "logging to stderr, until SIGTERM or SIGINT.\n"
        "\n"
        "  -c, --config FILE        run with this YAML config\n"
        "  -t, --check-config FILE  validate the config and its plugins, then exit\n"
        "  -p, --plugin-dir DIR     where <kind>_<name>.so plugins live\n"
        "                           (default: plugins.dir, $FLASHSALED_PLUGIN_DIR,\n"
        "                           then %s)\n"
        "  -P, --help-plugin KIND NAME  list a plugin's config keys and exit\n"
        "  -V, --version            print the version and exit\n"
        "  -h, --help               print this help and exit\n"
        "\n"
        "  token                    print an HS256 JWT for --user, signed with the\n"
        "                           config's auth secret, valid --ttl seconds\n"
        "                           (default 3600): for tests and curl\n"
        "\n"
        "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reloads the sales and\n"
        "the Lua policies (a broken file keeps the old ones running).\n"
        "Exit codes: 0 success, 1 config or start-up error, 2 usage error.\n",
        FS_PLUGIN_DIR);
}

static int token_command(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"user", required_argument, NULL, 'u'},
        {"ttl", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *user = NULL;
    long long ttl = 3600;
    char err[FS_CONFIG_ERR_MAX], *end, *token;
    struct fs_config *cfg;
    struct fs_auth auth;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:u:l:", longopts, NULL)) != -1) {
        if (opt == 'c')
            config = optarg;
        else if (opt == 'u')
            user = optarg;
        else if (opt == 'l') {
            ttl = strtoll(optarg, &end, 10);
            if (*end || ttl <= 0 || ttl > 31536000) {
                fprintf(stderr, "flashsaled token: --ttl takes 1 to 31536000 seconds\n");
                return EXIT_USAGE;
            }
        } else
            return EXIT_USAGE;
    }
    if (!config || !user || optind != argc) {
        fprintf(stderr, "Usage: flashsaled token --config FILE --user ID [--ttl SECONDS]\n");
        return EXIT_USAGE;
    }
    if (!fs_user_id_valid(user)) {
        fprintf(stderr, "flashsaled token: a user id is 1 to %d printable characters, no spaces\n",
                FS_USER_MAX);
        return EXIT_USAGE;
    }
    cfg = fs_config_load(config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "flashsaled: %s\n", err);
        return 1;
    }
    if (!cfg->jwt_secret) {
        fprintf(stderr, "flashsaled token: mints HS256 tokens with auth.jwt_secret, "
                "which %s does not set (tokens for auth.jwks_* come from the "
                "identity provider)\n", config);
        fs_config_free(cfg);
        return 1;
    }
    token = NULL;
    if (fs_auth_init(&auth, cfg->jwt_secret, strlen(cfg->jwt_secret)) == 0) {
        token = fs_auth_mint(&auth, user, fs_now_ms() / 1000, ttl);
        fs_auth_free(&auth);
    }
    fs_config_free(cfg);
    if (!token) {
        fprintf(stderr, "flashsaled token: could not sign a token\n");
        return 1;
    }
    printf("%s\n", token);
    free(token);
    return 0;
}

/* Signals go to the main thread's sigwait(): blocked here, before any thread
 * exists, so every thread inherits the mask. SIGPIPE is never wanted: a
 * client that hangs up is an error return, not a death. */
static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 't'},
        {"plugin-dir", required_argument, NULL, 'p'},
        {"help-plugin", required_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *check = NULL, *plugin_dir = NULL, *kind = NULL;
    int opt;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return token_command(argc - 1, argv + 1);
    while ((opt = getopt_long(argc, argv, "c:t:p:P:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 't': check = optarg; break;
        case 'p': plugin_dir = optarg; break;
        case 'P': kind = optarg; break;
        case 'V': printf("flashsaled %s\n", PACKAGE_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (kind) {
        if (optind + 1 != argc || config || check) {
            usage(stderr);
            return EXIT_USAGE;
        }
        return fs_daemon_help_plugin(kind, argv[optind], plugin_dir);
    }
    if (optind != argc || (!config && !check) || (config && check)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (check)
        return fs_daemon_check_config(check, plugin_dir);
    block_signals();
    return fs_daemon_run(config, plugin_dir);
}
