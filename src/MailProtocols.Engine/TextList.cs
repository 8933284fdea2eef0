using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace MailProtocols.Engine;

/// <summary>
/// A read-only list for the list properties of output objects (recipients, attachment names).
/// Export-Csv and ConvertTo-Csv write a property with its ToString(), which for an array is
/// "System.String[]"; this list's text is its items joined by "; ", and it stays a list for
/// everything else (indexing, Count, the pipeline, ConvertTo-Json).
/// </summary>
public sealed class TextList<T> : ReadOnlyCollection<T>
{
    public TextList(IList<T> items) : base(items)
    {
    }

    public static TextList<T> None { get; } = new(Array.Empty<T>());

    /// <summary>As arrays have it, so scripts written against the arrays of earlier versions
    /// (or of Send-MailMessage users' habits) keep working.</summary>
    public int Length => Count;

    public override string ToString() => string.Join("; ", this);
}
