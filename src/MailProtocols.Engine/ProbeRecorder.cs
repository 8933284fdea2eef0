using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

namespace MailProtocols.Engine;

/// <summary>What <see cref="ProbeRecorder{TStage}"/> writes into a probe's result. Internal and
/// implemented by the public result classes, so that their PowerShell shape (which properties, in
/// which order) stays their own: a shared base class would move its properties behind theirs.</summary>
internal interface IProbeOutcome<TStage>
    where TStage : struct, Enum
{
    bool Success { set; }

    TStage? FailedStage { set; }

    string? Error { set; }

    string? Hint { set; }

    TextList<TStage> Stages { set; }

    TimeSpan Elapsed { set; }

    /// <summary>Records how long a stage took, in the result's property for that stage.</summary>
    void SetStageTime(TStage stage, TimeSpan elapsed);
}

/// <summary>The stages of one probe run as they happen: which ran, how long each took, which
/// failed and why, and the hints; <see cref="Finish"/> writes the outcome into the result.</summary>
internal sealed class ProbeRecorder<TStage>
    where TStage : struct, Enum
{
    private readonly IProbeOutcome<TStage> _result;
    private readonly string _endpoint;
    private readonly Action<string> _verbose;
    private readonly List<TStage> _stages = new();
    private readonly Stopwatch _watch = new();
    private readonly Stopwatch _total = Stopwatch.StartNew();
    private string? _error;

    public ProbeRecorder(IProbeOutcome<TStage> result, string endpoint, Action<string> verbose)
    {
        _result = result;
        _endpoint = endpoint;
        _verbose = verbose;
    }

    /// <summary>The stage running, or the last one that ran.</summary>
    public TStage Stage { get; private set; }

    /// <summary>What to look at, in order; a failure's own hint goes first.</summary>
    public List<string> Hints { get; } = new();

    /// <summary>Starts a stage unless the probe ends before it: <paramref name="always"/> runs it
    /// whatever -QuitAfter says (implicit TLS, without which nothing else can run), and
    /// <paramref name="run"/> false skips it.</summary>
    public bool Begin(TStage stage, TStage quitAfter, bool always = false, bool run = true)
    {
        if (!run || (!always && Comparer<TStage>.Default.Compare(stage, quitAfter) > 0))
        {
            return false;
        }

        Stage = stage;
        _stages.Add(stage);
        _watch.Restart();
        return true;
    }

    /// <summary>Forgets the stages begun so far (a step done before the session, such as fetching
    /// a token, that is reported as a stage only when it fails).</summary>
    public void ForgetStages() => _stages.Clear();

    public void End(string what)
    {
        var elapsed = _watch.Elapsed;
        _result.SetStageTime(Stage, elapsed);
        _verbose($"{Stage} ({elapsed.TotalMilliseconds:0} ms): {what}");
    }

    public void Fail(string error, string? hint)
    {
        _error = error;
        if (_stages.Count == 0 || !EqualityComparer<TStage>.Default.Equals(_stages[_stages.Count - 1], Stage))
        {
            _stages.Add(Stage);
        }

        if (hint != null)
        {
            Hints.Insert(0, hint);
        }
    }

    /// <summary>Writes the outcome into the result: success unless a stage failed.</summary>
    public void Finish()
    {
        var success = _error == null;
        _result.Success = success;
        _result.FailedStage = success ? null : Stage;
        _result.Error = _error;
        _result.Stages = new TextList<TStage>(_stages);
        _result.Elapsed = _total.Elapsed;
        _result.Hint = Hints.Count == 0 ? null : string.Join("\n", Hints.Distinct());
        _verbose(success ? $"{_endpoint}: every stage passed." : $"{_endpoint}: the {Stage} stage failed: {_error}");
    }
}
