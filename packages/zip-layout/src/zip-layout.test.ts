import { layoutFolder, layoutRank, safeFileName, UniqueNames, ZipPaths } from './index';

describe('ZIP layout', () => {
  test('folders are named per mailbox and kind, PDF before UBL, purchase before sales before misc', () => {
    expect(layoutFolder('purchase', 'pdf')).toBe('Aankoop-pdf');
    expect(layoutFolder('misc', 'ubl')).toBe('Diverse-ubl');
    const order = (['misc', 'sales', 'purchase'] as const)
      .flatMap((mailbox) => (['ubl', 'pdf'] as const).map((kind) => ({ mailbox, kind })))
      .sort((a, b) => layoutRank(a.mailbox, a.kind) - layoutRank(b.mailbox, b.kind))
      .map(({ mailbox, kind }) => layoutFolder(mailbox, kind));
    expect(order).toEqual(['Aankoop-pdf', 'Aankoop-ubl', 'Verkoop-pdf', 'Verkoop-ubl', 'Diverse-pdf', 'Diverse-ubl']);
  });

  test('file names lose what Windows, macOS or Linux refuse', () => {
    expect(safeFileName('a/b\\c:d*e?"f<g>h|i', 'pdf')).toBe('a_b_c_d_e__f_g_h_i.pdf');
    expect(safeFileName('..hidden. ', 'pdf')).toBe('hidden.pdf');
    expect(safeFileName('CON', 'xml')).toBe('_CON.xml');
    expect(safeFileName('', 'pdf')).toBe('document.pdf');
    expect(safeFileName('x'.repeat(300), 'pdf')).toHaveLength(154);
  });

  test('a name cut to its 150 characters does not end in a space or dot again', () => {
    expect(safeFileName(`${'a'.repeat(148)} .rest of the name`, 'pdf')).toBe(`${'a'.repeat(148)}.pdf`);
    expect(safeFileName(`${'b'.repeat(149)}. more`, '')).toBe('b'.repeat(149));
  });

  test('a long name of wide characters is cut between characters and stays within 200 UTF-8 bytes', () => {
    const name = safeFileName('😀'.repeat(100), 'pdf');
    const base = name.slice(0, -'.pdf'.length);
    expect(Array.from(base)).toEqual(Array(50).fill('😀'));
    expect(Buffer.byteLength(safeFileName('€'.repeat(150), ''))).toBeLessThanOrEqual(200);
  });

  test('names are unique per folder, ignoring case, and the same name may appear in two folders', () => {
    const names = new UniqueNames();
    expect([names.claim('Factuur.pdf'), names.claim('factuur.pdf'), names.claim('Factuur.pdf')]).toEqual([
      'Factuur.pdf',
      'factuur (2).pdf',
      'Factuur (3).pdf',
    ]);
    const paths = new ZipPaths();
    expect(paths.claim('Aankoop-pdf', 'F1', 'pdf')).toBe('Aankoop-pdf/F1.pdf');
    expect(paths.claim('Verkoop-pdf', 'F1', 'pdf')).toBe('Verkoop-pdf/F1.pdf');
    expect(paths.claim('Aankoop-pdf', 'F1', 'pdf')).toBe('Aankoop-pdf/F1 (2).pdf');
  });

  test("20,000 files of one name get 20,000 different names in moments, also when a copy's name was taken", () => {
    const names = new UniqueNames();
    expect(names.claim('Scan (3).pdf')).toBe('Scan (3).pdf');
    const started = Date.now();
    const claimed = Array.from({ length: 20_000 }, (_, i) => names.claim(i % 2 ? 'scan.pdf' : 'Scan.pdf'));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(new Set(claimed.map((name) => name.toLowerCase())).size).toBe(20_000);
    expect(claimed.slice(0, 4)).toEqual(['Scan.pdf', 'scan (2).pdf', 'Scan (4).pdf', 'scan (5).pdf']);
    expect(claimed[19_999]).toBe('scan (20001).pdf');
    // a name asked for later that one of the copies already has
    expect(names.claim('scan (2).pdf')).toBe('scan (2) (2).pdf');
  });

  test('a name of a million dots and spaces is cleaned in moments', () => {
    const started = Date.now();
    // cut to its first 150 characters, which end in dots and spaces
    expect(safeFileName(`a${'. '.repeat(500_000)}b`, 'pdf')).toBe('a.pdf');
    expect(safeFileName(`a${' .'.repeat(500_000)}`, '')).toBe('a');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
