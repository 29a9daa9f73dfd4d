import type { Config } from '../../config';
import { createAuditTrail } from '../access/compose';
import { systemClock } from '../clock';
import { openDatabase } from '../db/database';
import { commandLogger } from './context';
import { operatorName } from './operator';

/**
 * Records a change to the master keys in the audit trail. Key commands work on the key folder
 * and need no keyring or storage, so this opens only the database. The change has happened by
 * then: if the trail cannot be written, the command says so (exit 1) rather than hide it.
 */
export async function auditKeyChange(
  config: Config,
  details: Record<string, unknown>,
  action: 'key.generated' | 'key.rotated' | 'key.exported' | 'key.imported' = 'key.generated',
): Promise<void> {
  const db = openDatabase({ url: config.databaseUrl, sqliteSynchronous: config.sqliteSynchronous });
  try {
    if (config.autoMigrate) await db.migrate();
    await createAuditTrail(db, systemClock, commandLogger(config)).append({ actor: operatorName(), action, details });
  } finally {
    await db.close();
  }
}
