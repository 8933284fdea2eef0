namespace MailProtocols.Engine;

/// <summary>Mail addresses as the cmdlets take them: "a@b" or "Name &lt;a@b&gt;".</summary>
public static class Addresses
{
    /// <summary>The bare address of "Name &lt;a@b&gt;" (the text trimmed when it has no angle
    /// brackets), as MAIL FROM, RCPT TO and an XOAUTH2 user name need it; null stays null.</summary>
    public static string? Bare(string? address)
    {
        if (address == null)
        {
            return null;
        }

        var open = address.LastIndexOf('<');
        var close = address.LastIndexOf('>');
        return open >= 0 && close > open ? address.Substring(open + 1, close - open - 1).Trim() : address.Trim();
    }
}
