/* libFuzzer: arbitrary configuration text for every role. */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_ERROR);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    static const enum cfg_role roles[] = { CFG_ROLE_MUC, CFG_ROLE_ARCHIVER, CFG_ROLE_CTL };
    for (size_t i = 0; i < 3; i++) {
        struct cfg c;
        char *err = NULL;
        if (cfg_load_string("fuzz.ini", text, roles[i], &c, &err) == 0) {
            struct cfg again;
            if (cfg_load_string("fuzz.ini", text, roles[i], &again, &err) == 0) {
                cfg_apply_reload(&c, &again);
                cfg_free(&again);
            }
            cfg_free(&c);
        } else {
            if (!err || strncmp(err, "fuzz.ini", 8) != 0)
                abort(); /* every error names the file */
            free(err);
        }
    }
    free(text);
    return 0;
}
