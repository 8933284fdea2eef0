using System.Collections.Generic;
using System.Text;

namespace MailProtocols.Engine.Smtp;

/// <summary>Message priority, as Send-MailMessage's System.Net.Mail.MailPriority names it.</summary>
public enum MessagePriority
{
    Normal = 0,
    Low = 1,
    High = 2,
}

/// <summary>Delivery status notifications to request (RFC 3461), as flags.</summary>
[System.Flags]
public enum DsnRequest
{
    /// <summary>Ask for nothing: no NOTIFY parameter is sent at all.</summary>
    None = 0,
    OnSuccess = 1,
    OnFailure = 2,
    Delay = 4,
    /// <summary>NOTIFY=NEVER.</summary>
    Never = 134217728,
}

/// <summary>A message as the user describes it: plain strings and paths, nothing parsed yet.</summary>
public sealed class OutgoingMessage
{
    public string From { get; set; } = "";
    public IList<string> To { get; set; } = new List<string>();
    public IList<string> Cc { get; set; } = new List<string>();
    public IList<string> Bcc { get; set; } = new List<string>();
    public IList<string> ReplyTo { get; set; } = new List<string>();
    public string? Subject { get; set; }

    /// <summary>The plain-text body.</summary>
    public string? TextBody { get; set; }

    /// <summary>The HTML body; with a text body too, the message is multipart/alternative.</summary>
    public string? HtmlBody { get; set; }

    /// <summary>Charset of the bodies; UTF-8 when null.</summary>
    public Encoding? BodyEncoding { get; set; }

    /// <summary>Full file-system paths of files to attach.</summary>
    public IList<string> Attachments { get; set; } = new List<string>();

    /// <summary>Content-ID -> full path of an image referenced from the HTML body as cid:ID.</summary>
    public IDictionary<string, string> InlineImages { get; set; } = new Dictionary<string, string>();

    /// <summary>Extra header fields, name -> value.</summary>
    public IDictionary<string, string> Headers { get; set; } = new Dictionary<string, string>();

    public MessagePriority Priority { get; set; }

    public DsnRequest DeliveryNotification { get; set; }
}
