#ifndef LMTP_COI_PLUGIN_H
#define LMTP_COI_PLUGIN_H

void lmtp_coi_plugin_init(struct module *module);
void lmtp_coi_plugin_deinit(void);

#endif
