using System;

namespace MailProtocols.Engine.OAuth;

/// <summary>The one-line reason a token request failed, for an error message: identity providers
/// and HTTP stacks put details (trace ids, stack-like text) on the lines after the first.</summary>
internal static class ErrorText
{
    /// <summary>The first line of the messages of <paramref name="ex"/> and its inner exceptions.</summary>
    public static string Unwrap(Exception ex)
    {
        var text = ex.Message;
        for (var inner = ex.InnerException; inner != null; inner = inner.InnerException)
        {
            text += " " + inner.Message;
        }

        return FirstLine(text);
    }

    public static string FirstLine(string text)
    {
        var end = text.IndexOfAny(new[] { '\r', '\n' });
        return (end < 0 ? text : text.Substring(0, end)).Trim();
    }
}
