using System;
using System.IO;
using MimeKit;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// The .eml file a message object reads what was put off (its bodies; for an imported file also
/// its attachment names) from when first asked for, so a listing of saved mail holds no bodies.
/// It makes sure the file is still the message the object was made from: a wrong body is worse
/// than an error.
/// </summary>
internal sealed class SavedMessageFile
{
    private readonly long _length; // -1 where it is not known: a message saved by -Destination
    private readonly DateTime _lastWriteUtc;
    private readonly string _from;
    private readonly string _subject;
    private readonly string? _messageId;
    private readonly DateTimeOffset? _date;

    public SavedMessageFile(Pop3Message message, long length, DateTime lastWriteUtc)
    {
        _length = length;
        _lastWriteUtc = lastWriteUtc;
        _from = message.From;
        _subject = message.Subject;
        _messageId = message.MessageId;
        _date = message.Date;
    }

    /// <summary>Parses the file at <paramref name="path"/> and hands the message to
    /// <paramref name="take"/>; with <paramref name="withBodies"/> false the parts stay in the file
    /// (only the structure is read into memory) and are gone once <paramref name="take"/> returns.</summary>
    public void Read(string? path, bool withBodies, Action<MimeMessage> take)
    {
        var what = withBodies ? "bodies" : "attachment names";
        if (string.IsNullOrEmpty(path))
        {
            throw new MailOperationException("MessageFileNotFound", MailErrorKind.ObjectNotFound, path,
                $"The message's {what} are read from its SavedPath, and it has none.");
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096);
        }
        catch (Exception ex) when (ex is FileNotFoundException || ex is DirectoryNotFoundException)
        {
            throw new MailOperationException("MessageFileNotFound", MailErrorKind.ObjectNotFound, path,
                $"The message file '{path}' no longer exists, so the message's {what} cannot be read: it was moved or deleted after the message was read. Read it again from where it is now.", ex);
        }
        catch (Exception ex) when (ex is IOException || ex is UnauthorizedAccessException)
        {
            throw new MailOperationException("MessageFileUnreadable", MailErrorKind.ReadError, path,
                $"Cannot read the message file '{path}' for the message's {what}: {ex.Message}", ex);
        }

        using (stream)
        {
            if (_length >= 0 && (stream.Length != _length || File.GetLastWriteTimeUtc(path) != _lastWriteUtc))
            {
                throw Changed(path!, what, "its size or time of last change differs");
            }

            MimeMessage parsed;
            try
            {
                parsed = Pop3Message.Parse(stream, persistent: !withBodies);
            }
            catch (FormatException ex)
            {
                throw Changed(path!, what, "it is no longer a mail message", ex);
            }
            catch (IOException ex)
            {
                throw new MailOperationException("MessageFileUnreadable", MailErrorKind.ReadError, path,
                    $"Cannot read the message file '{path}' for the message's {what}: {ex.Message}", ex);
            }

            if (parsed.From.ToString() != _from || (parsed.Subject ?? "") != _subject || parsed.MessageId != _messageId
                || (parsed.Headers.Contains(HeaderId.Date) ? parsed.Date : (DateTimeOffset?)null) != _date)
            {
                throw Changed(path!, what, "it now holds another message (its From, Subject, Date or Message-ID differ)");
            }

            take(parsed);
        }
    }

    private static MailOperationException Changed(string path, string what, string how, Exception? inner = null) =>
        new("MessageFileChanged", MailErrorKind.InvalidData, path,
            $"The message file '{path}' changed after the message was read ({how}), so its {what} would not be this message's. Read it again.", inner);
}
