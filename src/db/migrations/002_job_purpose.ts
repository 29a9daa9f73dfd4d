import type { Knex } from 'knex';

/**
 * A job now has a purpose: `ingest` (store a recording; at most one per source and recording id,
 * as before) or `source-delete` (remove the recording at the provider once it is stored and
 * verified here). The uniqueness that makes deliveries idempotent becomes per purpose.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (table) => {
    table.string('purpose', 16).notNullable().defaultTo('ingest');
  });
  await knex.schema.alterTable('jobs', (table) => {
    table.dropUnique(['source', 'source_recording_id']);
    table.unique(['source', 'source_recording_id', 'purpose']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex('jobs').where('purpose', '<>', 'ingest').delete();
  await knex.schema.alterTable('jobs', (table) => {
    table.dropUnique(['source', 'source_recording_id', 'purpose']);
    table.unique(['source', 'source_recording_id']);
  });
  await knex.schema.alterTable('jobs', (table) => {
    table.dropColumn('purpose');
  });
}
