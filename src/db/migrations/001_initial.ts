import type { Knex } from 'knex';

/**
 * The index: one row per recording the phone system handed over (stored, or not retained and
 * why), the people and numbers on each call for subject-access searches, and the durable ingest
 * queue. Times are timestamptz in PostgreSQL and ISO-8601 UTC text in SQLite (see Codec).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('recordings', (table) => {
    table.string('id', 36).primary();
    table.string('source', 32).notNullable();
    table.string('source_recording_id', 255).notNullable();
    table.string('source_event_id', 255);
    table.string('call_id', 255);
    table.string('direction', 16);
    // E.164 when the number parses; display form as the provider sent it (withheld, extensions).
    table.string('from_number', 32);
    table.string('to_number', 32);
    table.string('from_display', 64);
    table.string('to_display', 64);
    table.string('extension', 32);
    table.string('line', 64);
    table.string('team', 128);
    table.timestamp('started_at', { useTz: true });
    table.timestamp('ended_at', { useTz: true });
    // started_at, or the time of ingest when the source gave none: the sort key for searches.
    table.timestamp('call_time', { useTz: true }).notNullable();
    table.integer('duration_sec');
    table.string('consent', 16).notNullable();
    table.string('category', 32).notNullable();
    table.timestamp('retain_until', { useTz: true }).notNullable();
    // stored | not_retained | unavailable | destroyed
    table.string('status', 16).notNullable();
    table.string('status_reason', 255);
    table.string('storage_key', 255);
    table.string('key_id', 64);
    table.binary('wrapped_key');
    table.string('format', 16);
    table.string('content_type', 64);
    table.bigInteger('plaintext_size');
    table.bigInteger('ciphertext_size');
    table.integer('chunk_size');
    table.string('sha256', 64);
    table.jsonb('metadata');
    table.timestamp('ingested_at', { useTz: true }).notNullable();
    table.timestamp('verified_at', { useTz: true });
    table.timestamp('destroyed_at', { useTz: true });
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.unique(['source', 'source_recording_id']);
    table.unique(['storage_key']);
    table.index(['from_number']);
    table.index(['to_number']);
    table.index(['call_time', 'id']);
    table.index(['extension', 'call_time']);
    table.index(['line', 'call_time']);
    table.index(['team', 'call_time']);
    table.index(['category', 'call_time']);
    table.index(['status', 'retain_until']);
  });

  await knex.schema.createTable('recording_staff', (table) => {
    table.string('recording_id', 36).notNullable().references('id').inTable('recordings').onDelete('CASCADE');
    table.string('username', 128).notNullable();
    table.primary(['recording_id', 'username']);
    table.index(['username']);
  });

  await knex.schema.createTable('recording_parties', (table) => {
    table.increments('id');
    table.string('recording_id', 36).notNullable().references('id').inTable('recordings').onDelete('CASCADE');
    table.string('name', 255).notNullable();
    // Lower-cased, accents and extra spaces removed: case-insensitive search that behaves the same in both databases.
    table.string('name_folded', 255).notNullable();
    table.string('role', 32);
    table.index(['name_folded']);
    table.index(['recording_id']);
  });

  await knex.schema.createTable('jobs', (table) => {
    table.string('id', 36).primary();
    // fetch: the worker downloads the audio; upload: the audio arrived with the request.
    table.string('kind', 16).notNullable();
    table.string('source', 32).notNullable();
    table.string('source_recording_id', 255).notNullable();
    table.string('recording_id', 36).notNullable();
    // queued | running | succeeded | failed
    table.string('status', 16).notNullable();
    table.integer('attempts').notNullable().defaultTo(0);
    table.integer('max_attempts').notNullable();
    table.timestamp('run_after', { useTz: true }).notNullable();
    table.string('lease_owner', 64);
    table.timestamp('lease_expires_at', { useTz: true });
    // The object the current attempt writes to (a fresh key per attempt), and the one an
    // interrupted earlier attempt may have left: the next attempt deletes it before starting.
    table.string('pending_object_key', 255);
    table.string('abandoned_object_key', 255);
    table.jsonb('payload');
    table.string('last_error_code', 64);
    table.text('last_error');
    table.string('request_id', 64);
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('finished_at', { useTz: true });
    table.unique(['source', 'source_recording_id']);
    table.index(['status', 'run_after']);
    table.index(['status', 'lease_expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('jobs');
  await knex.schema.dropTable('recording_parties');
  await knex.schema.dropTable('recording_staff');
  await knex.schema.dropTable('recordings');
}
