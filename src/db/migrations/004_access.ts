import type { Knex } from 'knex';

/**
 * Access: users and their sessions, access requests (a request approved is a grant), the
 * release register (the policies' Annex B) and the audit trail, a hash chain whose sequence
 * numbers are unique so that appends from several processes form one chain.
 */
export async function up(knex: Knex): Promise<void> {
  // Search by number walks (number, call_time, id) newest first for each end of the call; these
  // replace the single-column indexes on the numbers, which they cover.
  await knex.schema.alterTable('recordings', (table) => {
    table.index(['from_number', 'call_time', 'id']);
    table.index(['to_number', 'call_time', 'id']);
  });
  await knex.schema.alterTable('recordings', (table) => {
    table.dropIndex(['from_number']);
    table.dropIndex(['to_number']);
  });

  await knex.schema.createTable('users', (table) => {
    table.string('id', 36).primary();
    table.string('username', 64).notNullable().unique();
    table.string('role', 16).notNullable();
    // Staff are linked to their calls by username (recording_staff) and by extension (recordings.extension).
    table.string('extension', 32);
    // "$scrypt$ln=..,r=..,p=..$salt$hash": the parameters travel with the hash.
    table.string('password_hash', 255).notNullable();
    table.boolean('disabled').notNullable().defaultTo(false);
    table.integer('failed_logins').notNullable().defaultTo(0);
    table.timestamp('locked_until', { useTz: true });
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('password_changed_at', { useTz: true }).notNullable();
  });

  await knex.schema.createTable('sessions', (table) => {
    // SHA-256 of the bearer token: the token itself is never stored.
    table.string('token_hash', 64).primary();
    table.string('user_id', 36).notNullable().references('id').inTable('users');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('expires_at', { useTz: true }).notNullable();
    table.timestamp('revoked_at', { useTz: true });
    table.index(['user_id']);
    table.index(['expires_at']);
  });

  await knex.schema.createTable('access_requests', (table) => {
    table.string('id', 36).primary();
    table.string('requester_id', 36).notNullable().references('id').inTable('users');
    table.string('requester_username', 64).notNullable();
    table.string('requester_role', 16).notNullable();
    table.text('reason').notNullable();
    // What the policies ask a request to say about the call, when known.
    table.timestamp('call_time', { useTz: true });
    table.string('extension', 32);
    table.string('external_number', 32);
    table.text('parties');
    table.text('notes');
    // A release purpose (Annex B) when a copy is to leave; null: to listen only.
    table.string('purpose', 32);
    table.string('release_requester', 255);
    table.string('release_recipient', 255);
    // pending | approved | rejected | revoked
    table.string('status', 16).notNullable();
    table.string('decided_by', 64);
    table.timestamp('decided_at', { useTz: true });
    table.text('decision_note');
    table.timestamp('expires_at', { useTz: true });
    table.string('dpo_approved_by', 64);
    table.timestamp('dpo_approved_at', { useTz: true });
    table.string('revoked_by', 64);
    table.timestamp('revoked_at', { useTz: true });
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.index(['requester_id', 'status']);
    table.index(['status', 'created_at']);
  });

  await knex.schema.createTable('access_request_recordings', (table) => {
    table.string('request_id', 36).notNullable().references('id').inTable('access_requests');
    table.string('recording_id', 36).notNullable();
    table.primary(['request_id', 'recording_id']);
    table.index(['recording_id']);
  });

  await knex.schema.createTable('releases', (table) => {
    table.string('id', 36).primary();
    table.timestamp('released_at', { useTz: true }).notNullable();
    table.string('requester', 255).notNullable();
    table.string('recipient', 255).notNullable();
    table.string('purpose', 32).notNullable();
    table.string('authorised_by', 64).notNullable();
    table.string('dpo_approved_by', 64);
    // The grant it left under; null for a subject access bundle (authorised by the ig_lead or dpo who made it).
    table.string('access_request_id', 36);
    table.string('format', 16).notNullable();
    table.string('sha256', 64).notNullable();
    table.bigInteger('bytes');
    // false: the transfer was cut off; the bytes counted and hashed are what left.
    table.boolean('complete').notNullable();
    // api | cli | subject-access | manual
    table.string('channel', 16).notNullable();
    table.string('recorded_by', 64).notNullable();
    table.text('notes');
    table.index(['released_at']);
  });

  await knex.schema.createTable('release_recordings', (table) => {
    table.string('release_id', 36).notNullable().references('id').inTable('releases');
    table.string('recording_id', 36).notNullable();
    table.primary(['release_id', 'recording_id']);
    table.index(['recording_id']);
  });

  await knex.schema.createTable('audit_log', (table) => {
    // Gapless from 1; unique, so two processes appending at once cannot both take the same place.
    table.bigInteger('seq').primary();
    table.timestamp('at', { useTz: true }).notNullable();
    table.string('actor', 128).notNullable();
    table.string('actor_role', 16);
    table.string('action', 64).notNullable();
    table.string('recording_id', 36);
    // Canonical JSON (sorted keys), exactly the text the hash covers.
    table.text('details').notNullable();
    table.string('prev_hash', 64).notNullable();
    table.string('hash', 64).notNullable();
    table.index(['recording_id']);
    table.index(['actor', 'seq']);
    table.index(['action', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_log');
  await knex.schema.dropTable('release_recordings');
  await knex.schema.dropTable('releases');
  await knex.schema.dropTable('access_request_recordings');
  await knex.schema.dropTable('access_requests');
  await knex.schema.dropTable('sessions');
  await knex.schema.dropTable('users');
  await knex.schema.alterTable('recordings', (table) => {
    table.index(['from_number']);
    table.index(['to_number']);
  });
  await knex.schema.alterTable('recordings', (table) => {
    table.dropIndex(['from_number', 'call_time', 'id']);
    table.dropIndex(['to_number', 'call_time', 'id']);
  });
}
