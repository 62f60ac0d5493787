import type { Queryable } from '@kantoor/database';

export interface FirmProfileRow {
  firm_id: string;
  name: string;
  functional_email: string;
  language: string;
  logo: Uint8Array | null;
  logo_content_type: string | null;
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

export async function saveFirmLogo(
  db: Queryable,
  firmId: string,
  logo: Uint8Array | null,
  contentType: string | null,
): Promise<void> {
  await db.query(
    `INSERT INTO firm_profile (firm_id, logo, logo_content_type) VALUES ($1, $2, $3)
     ON CONFLICT (firm_id) DO UPDATE SET logo = EXCLUDED.logo, logo_content_type = EXCLUDED.logo_content_type, updated_at = now()`,
    [firmId, logo ? Buffer.from(logo) : null, contentType],
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

export async function deleteSmtpSettings(db: Queryable, firmId: string): Promise<void> {
  await db.query('DELETE FROM smtp_settings WHERE firm_id = $1', [firmId]);
}
