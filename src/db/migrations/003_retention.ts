import type { Knex } from 'knex';

/**
 * Retention: legal holds (any number per recording, each placed and removed with a reason and
 * by whom), category changes (which recompute the destruction date), the destruction log (the
 * proof that a recording was destroyed on time and by which rule), and leases (one sweep at a
 * time, whatever the number of instances).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('recordings', (table) => {
    // The sweep that is destroying this recording (status "destroying"), so a re-run can finish its work.
    table.string('destroy_sweep_id', 36);
    // Active legal holds. On the row itself, so that "not held" is part of the very update that
    // starts a destruction: a hold placed at the same moment either wins or is refused, never lost.
    table.integer('hold_count').notNullable().defaultTo(0);
  });

  await knex.schema.createTable('legal_holds', (table) => {
    table.string('id', 36).primary();
    table.string('recording_id', 36).notNullable().references('id').inTable('recordings');
    table.text('reason').notNullable();
    table.string('placed_by', 128).notNullable();
    table.timestamp('placed_at', { useTz: true }).notNullable();
    table.string('removed_by', 128);
    table.text('removal_reason');
    table.timestamp('removed_at', { useTz: true });
    table.index(['recording_id', 'removed_at']);
  });

  await knex.schema.createTable('category_changes', (table) => {
    table.string('id', 36).primary();
    table.string('recording_id', 36).notNullable().references('id').inTable('recordings');
    table.string('from_category', 32).notNullable();
    table.string('to_category', 32).notNullable();
    table.timestamp('from_retain_until', { useTz: true }).notNullable();
    table.timestamp('to_retain_until', { useTz: true }).notNullable();
    table.text('reason').notNullable();
    table.string('changed_by', 128).notNullable();
    table.timestamp('changed_at', { useTz: true }).notNullable();
    table.index(['recording_id']);
  });

  await knex.schema.createTable('destruction_log', (table) => {
    table.string('id', 36).primary();
    // Unique: a recording is destroyed once, however many sweeps race.
    table.string('recording_id', 36).notNullable().unique();
    table.string('source', 32).notNullable();
    table.string('category', 32).notNullable();
    table.string('rule', 64).notNullable();
    table.timestamp('retain_until', { useTz: true }).notNullable();
    table.string('plaintext_sha256', 64);
    table.bigInteger('plaintext_size');
    table.boolean('had_audio').notNullable();
    table.boolean('object_deletion_confirmed').notNullable();
    table.timestamp('ingested_at', { useTz: true }).notNullable();
    table.timestamp('destroyed_at', { useTz: true }).notNullable();
    table.string('sweep_id', 36).notNullable();
    table.index(['destroyed_at']);
  });

  await knex.schema.createTable('leases', (table) => {
    table.string('name', 64).primary();
    table.string('owner', 128).notNullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.timestamp('acquired_at', { useTz: true }).notNullable();
  });

  await knex.schema.createTable('sweeps', (table) => {
    table.string('id', 36).primary();
    table.string('owner', 128).notNullable();
    table.string('trigger', 16).notNullable();
    table.boolean('dry_run').notNullable();
    table.timestamp('started_at', { useTz: true }).notNullable();
    table.timestamp('finished_at', { useTz: true });
    table.integer('eligible');
    table.integer('destroyed');
    table.integer('failed');
    table.integer('held');
    table.text('problems');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sweeps');
  await knex.schema.dropTable('leases');
  await knex.schema.dropTable('destruction_log');
  await knex.schema.dropTable('category_changes');
  await knex.schema.dropTable('legal_holds');
  await knex.schema.alterTable('recordings', (table) => {
    table.dropColumn('hold_count');
    table.dropColumn('destroy_sweep_id');
  });
}
