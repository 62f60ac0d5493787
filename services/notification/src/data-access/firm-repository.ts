import type { Queryable } from '@kantoor/database';

export interface FirmProfileRow {
  firm_id: string;
  name: string;
  functional_email: string;
  language: string;
  logo: Uint8Array | null;
  logo_content_type: string | null;
  /** who last set or removed the logo (a staff id), and when */
  logo_updated_by: string | null;
  logo_updated_at: Date | null;
  /** who last removed the firm's own SMTP server (a staff id), and when */
  smtp_cleared_by: string | null;
  smtp_cleared_at: Date | null;
}

export interface SmtpSettingsRow {
  firm_id: string;
  host: string;
  port: number;
  tls: 'none' | 'starttls' | 'tls';
  username: string;
  sealed_password: string | null;
  sender_address: string;
  sender_name: string;
  updated_at: Date;
  updated_by: string;
}

/** What the directory told about a firm; the logo, set here, is left alone. */
export async function saveFirmProfile(
  db: Queryable,
  firm: { firmId: string; name: string; functionalEmail: string; language: string },
): Promise<void> {
  await db.query(
    `INSERT INTO firm_profile (firm_id, name, functional_email, language) VALUES ($1, $2, $3, $4)
     ON CONFLICT (firm_id) DO UPDATE SET name = EXCLUDED.name, functional_email = EXCLUDED.functional_email,
       language = EXCLUDED.language, updated_at = now()`,
    [firm.firmId, firm.name, firm.functionalEmail, firm.language],
  );
}

export async function findFirmProfile(db: Queryable, firmId: string): Promise<FirmProfileRow | null> {
  const { rows } = await db.query<FirmProfileRow>('SELECT * FROM firm_profile WHERE firm_id = $1', [firmId]);
  return rows[0] ?? null;
}

/** Sets (or, with null, removes) the firm's logo, recording who did it. */
export async function saveFirmLogo(
  db: Queryable,
  change: { firmId: string; logo: Uint8Array | null; contentType: string | null; updatedBy: string },
): Promise<void> {
  await db.query(
    `INSERT INTO firm_profile (firm_id, logo, logo_content_type, logo_updated_by, logo_updated_at)
     VALUES ($1, $2, $3, $4, now())
     ON CONFLICT (firm_id) DO UPDATE SET logo = EXCLUDED.logo, logo_content_type = EXCLUDED.logo_content_type,
       logo_updated_by = EXCLUDED.logo_updated_by, logo_updated_at = EXCLUDED.logo_updated_at, updated_at = now()`,
    [change.firmId, change.logo ? Buffer.from(change.logo) : null, change.contentType, change.updatedBy],
  );
}

export async function findSmtpSettings(db: Queryable, firmId: string): Promise<SmtpSettingsRow | null> {
  const { rows } = await db.query<SmtpSettingsRow>('SELECT * FROM smtp_settings WHERE firm_id = $1', [firmId]);
  return rows[0] ?? null;
}

export async function saveSmtpSettings(
  db: Queryable,
  settings: Omit<SmtpSettingsRow, 'updated_at'>,
): Promise<SmtpSettingsRow> {
  const { rows } = await db.query<SmtpSettingsRow>(
    `INSERT INTO smtp_settings (firm_id, host, port, tls, username, sealed_password, sender_address, sender_name, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (firm_id) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port, tls = EXCLUDED.tls,
       username = EXCLUDED.username, sealed_password = EXCLUDED.sealed_password, sender_address = EXCLUDED.sender_address,
       sender_name = EXCLUDED.sender_name, updated_by = EXCLUDED.updated_by, updated_at = now()
     RETURNING *`,
    [
      settings.firm_id,
      settings.host,
      settings.port,
      settings.tls,
      settings.username,
      settings.sealed_password,
      settings.sender_address,
      settings.sender_name,
      settings.updated_by,
    ],
  );
  return rows[0];
}

/**
 * Removes the firm's own SMTP server and records who did it, in one statement; when the firm had none,
 * nothing changes and nothing is recorded.
 */
export async function deleteSmtpSettings(db: Queryable, firmId: string, clearedBy: string): Promise<void> {
  await db.query(
    `WITH cleared AS (DELETE FROM smtp_settings WHERE firm_id = $1 RETURNING firm_id)
     INSERT INTO firm_profile (firm_id, smtp_cleared_by, smtp_cleared_at) SELECT firm_id, $2, now() FROM cleared
     ON CONFLICT (firm_id) DO UPDATE SET smtp_cleared_by = EXCLUDED.smtp_cleared_by,
       smtp_cleared_at = EXCLUDED.smtp_cleared_at, updated_at = now()`,
    [firmId, clearedBy],
  );
}
