/* Shared between the http module's files only. */
#ifndef FX_HTTP_INT_H
#define FX_HTTP_INT_H

/* Byte classes (bit flags in fx_http__char_class[]), one table for the head
 * parser and the chunked decoder so both apply the same grammar. */
#define C_TCHAR 0x01u /* RFC 9110 tchar: methods, field and trailer names */
#define C_VCHAR 0x02u /* visible ASCII 0x21-0x7E: request-target bytes */
#define C_VALUE 0x04u /* field-value bytes: HTAB, SP, VCHAR, obs-text */
#define C_AUTH  0x08u /* authority bytes: unreserved, pct, sub-delims, ':', '[', ']' */
#define C_HEX   0x10u /* HEXDIG: chunk sizes */
#define C_EXT   0x20u /* HTAB, SP, VCHAR: chunk extensions */

extern const unsigned char fx_http__char_class[256];

#endif
