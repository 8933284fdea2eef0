using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using MimeKit;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Reads saved .eml files into the objects Get-Pop3Message gives: the header block only, parsed
/// as a listing's (TOP n 0) is, by the POP3 path's parser; the bodies and attachment names are
/// read from the file when first asked for. One reader per command: its parser serves every file.
/// </summary>
public sealed class MailFileReader
{
    // A header block that parses but has none of these (a text file "Note: milk") is no message.
    private static readonly HashSet<string> MessageFields = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Received", "Return-Path", "MIME-Version",
    };

    private readonly MimeParser _parser = Pop3Message.NewParser();

    /// <summary>Reads the headers of the file at <paramref name="path"/> (a full path).</summary>
    /// <exception cref="MailOperationException">PathNotFound, FileReadFailed or NotAMailMessage.</exception>
    public Pop3Message Read(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096);
        }
        catch (Exception ex) when (ex is FileNotFoundException || ex is DirectoryNotFoundException)
        {
            throw new MailOperationException("PathNotFound", MailErrorKind.ObjectNotFound, path, $"The file '{path}' does not exist.", ex);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw ReadFailed(path, ex);
        }

        using (stream)
        {
            MimeMessage headers;
            long length;
            DateTime lastWriteUtc;
            try
            {
                length = stream.Length;
                lastWriteUtc = File.GetLastWriteTimeUtc(path);
                if (length == 0)
                {
                    throw NotAMessage(path, "it is empty", null);
                }

                headers = Pop3Message.Parse(_parser, new HeaderBlockStream(stream));
            }
            catch (FormatException ex)
            {
                throw NotAMessage(path, "it does not begin with mail header fields", ex);
            }
            catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
            {
                throw ReadFailed(path, ex);
            }

            if (!headers.Headers.Any(h => MessageFields.Contains(h.Field)))
            {
                throw NotAMessage(path, "its header block has none of the fields a message has (From, To, Subject, Date, Message-ID...)", null);
            }

            return Pop3Message.CreateImported(path, length, lastWriteUtc, EmlFileName.ToUid(Path.GetFileName(path)), headers);
        }
    }

    private static MailOperationException ReadFailed(string path, Exception ex) =>
        new("FileReadFailed", MailErrorKind.ReadError, path, $"Cannot read the file '{path}': {ex.Message}", ex);

    private static MailOperationException NotAMessage(string path, string why, Exception? inner) =>
        new("NotAMailMessage", MailErrorKind.InvalidData, path, $"The file '{path}' is not a mail message: {why}.", inner);
}
