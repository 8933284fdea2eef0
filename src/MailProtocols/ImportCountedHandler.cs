using System;

namespace MailProtocols;

/// <summary>
/// An assembly-resolution handler that is hooked while the module is imported in at least one
/// runspace: removing the module in one runspace must not break another that still uses it.
/// </summary>
internal sealed class ImportCountedHandler
{
    private readonly Action _add;
    private readonly Action _remove;
    private readonly object _gate = new();
    private int _imports;
    private bool _hooked;

    public ImportCountedHandler(Action add, Action remove)
    {
        _add = add;
        _remove = remove;
    }

    /// <summary>Hooks the handler without counting an import: for the assembly's module
    /// initializer, which runs before PowerShell has looked through the cmdlet types.</summary>
    public void Hook()
    {
        lock (_gate)
        {
            if (!_hooked)
            {
                _add();
                _hooked = true;
            }
        }
    }

    /// <summary>One more import of the module (one per runspace that imports it).</summary>
    public void Attach()
    {
        lock (_gate)
        {
            _imports++;
            Hook();
        }
    }

    /// <summary>One import fewer; the handler goes with the last one.</summary>
    public void Detach()
    {
        lock (_gate)
        {
            _imports = Math.Max(0, _imports - 1);
            if (_imports == 0 && _hooked)
            {
                _remove();
                _hooked = false;
            }
        }
    }
}
