// Tests build their own configuration; an operator's CALLVAULT_* variables must not leak in.
for (const name of Object.keys(process.env)) {
  if (name.startsWith('CALLVAULT_')) delete process.env[name];
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
