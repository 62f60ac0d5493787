-- document-intake: a scan stored before its original was its page(s) kept the merged PDF as the original but
-- named the format of its pages (jpeg), so "download original" served PDF bytes as a JPEG. Those rows point at
-- the PDF: their original format is pdf.
UPDATE document SET original_format = 'pdf'
WHERE channel = 'scan' AND original_key = pdf_key AND original_key LIKE '%/document.pdf' AND original_format <> 'pdf';
