<#
.SYNOPSIS
    Shared by selfcheck.ps1 (SMTP) and selfcheck-pop3.ps1 (POP3); dot-source it.
.DESCRIPTION
    Builds and loads MockMailServer.dll, counts PASS/FAIL checks, writes the python3 client (a shared prelude
    followed by the protocol's modes) and runs it. The client functions use the caller's $py (the client script)
    and $server (the running MockServer).
#>

$script:failures = 0

# Builds MockMailServer.dll (unless -NoBuild) and loads it into this process; with -Path, loads
# that build instead (the suite passes the one it built).
function Import-MockServer([switch]$NoBuild, [string]$Path) {
    if ($Path) {
        Add-Type -Path $Path
        return
    }
    if (-not $NoBuild) {
        $buildOutput = & dotnet build (Join-Path $PSScriptRoot 'MockMailServer.csproj') -c Release --nologo 2>&1
        if ($LASTEXITCODE -ne 0) {
            $buildOutput | Out-Host
            Write-Host 'FAIL build'
            exit 1
        }
        Write-Host 'PASS build'
    }
    Add-Type -Path (Join-Path $PSScriptRoot 'bin/Release/net8.0/MockMailServer.dll')
}

function Check([string]$Name, [bool]$Condition, [string]$Detail = '') {
    if ($Condition) {
        Write-Host "PASS $Name"
    } else {
        $script:failures++
        Write-Host "FAIL $Name $Detail"
    }
}

# For a catch block: an error outside any check counts as a failure.
function Write-UnexpectedError($ErrorRecord) {
    $script:failures++
    Write-Host "FAIL unexpected error: $ErrorRecord`n$($ErrorRecord.ScriptStackTrace)"
}

# Ends the run: exit code 1 if any check failed.
function Complete-SelfCheck {
    if ($script:failures -gt 0) {
        Write-Host "$($script:failures) check(s) FAILED"
        exit 1
    }
    Write-Host 'All checks passed'
    exit 0
}

# ---------------------------------------------------------------- python client
# Every mode gets: mode, host, port and arg (the JSON argument, or None); ctx() (TLS without verification),
# out() (prints one JSON line) and await_close() (for a command that gets no reply).
$script:pythonPrelude = @'
import base64, json, socket, ssl, sys, time

def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c

def out(obj):
    print(json.dumps(obj))
    sys.stdout.flush()

def await_close(sock):
    # no reply is expected: report whether one came within 1.5 s, then how long until the server closes
    sock.settimeout(1.5)
    try:
        r = sock.recv(100)
        out({'result': 'replied' if r else 'closed'})
    except socket.timeout:
        out({'result': 'timeout'})
    sock.settimeout(20)
    t = time.time()
    try:
        r = sock.recv(100)
        out({'closed': r == b'', 'secs': time.time() - t, 'at': time.time()})
    except Exception as e:
        out({'closed': True, 'secs': time.time() - t, 'at': time.time(), 'error': type(e).__name__})

def trickle_client():
    # 'trickle' mode. arg: {'cmd': the trickled command (None: the greeting), 'pre': commands sent before it
    # (one-line replies), 'end': how the trickled response ends, 'after': a command sent after it (its reply
    # line is reported), 'stop': report the first byte, then how long until the server closes}
    s = socket.create_connection((host, port), timeout=20)
    def line():
        b = b''
        while not b.endswith(b'\r\n'):
            c = s.recv(1)
            if not c:
                break
            b += c
        return b.decode('utf-8', 'replace')
    if arg.get('cmd'):
        line()
        for c in arg.get('pre') or []:
            s.sendall(c.encode() + b'\r\n')
            line()
        s.sendall(arg['cmd'].encode() + b'\r\n')
    t0 = time.time()
    end = (arg.get('end') or '\r\n').encode()
    data, chunks, first = b'', 0, None
    while not data.endswith(end):
        c = s.recv(4096)
        if not c:
            break
        if first is None:
            first = time.time() - t0
            if arg.get('stop'):
                out({'first': first})
                t = time.time()
                try:
                    while s.recv(4096):
                        pass
                    out({'closed': True, 'secs': time.time() - t, 'at': time.time()})
                except Exception as e:
                    out({'closed': True, 'secs': time.time() - t, 'at': time.time(), 'error': type(e).__name__})
                return
        data += c
        chunks += 1
    total = time.time() - t0
    after = None
    if arg.get('after'):
        s.sendall(arg['after'].encode() + b'\r\n')
        after = line()
    out({'first': first, 'total': total, 'len': len(data), 'chunks': chunks, 'text': data.decode('utf-8', 'replace'), 'after': after})

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = json.loads(base64.b64decode(sys.argv[4]).decode('utf-8')) if len(sys.argv) > 4 and sys.argv[4] else None

'@

# Writes the client (prelude + $Modes) to a temporary file; returns its path.
function New-PythonClient([string]$Name, [string]$Modes) {
    $path = Join-Path ([IO.Path]::GetTempPath()) "$Name-$PID.py"
    Set-Content -LiteralPath $path -Value ($script:pythonPrelude + $Modes) -Encoding utf8NoBOM
    $path
}

function ConvertTo-ClientArgument($Argument) {
    if ($null -eq $Argument) { return '' }
    [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $Argument -Compress -Depth 5)))
}

# Runs the client and returns its last JSON line as an object.
function Invoke-Client([string]$Mode, [int]$Port, $Argument = $null) {
    $output = @(& python3 $py $Mode $server.Host $Port (ConvertTo-ClientArgument $Argument) 2>&1 | ForEach-Object { "$_" })
    $json = $output | Where-Object { $_.StartsWith('{') } | Select-Object -Last 1
    if (-not $json) { throw "python client '$Mode' failed: $($output -join "`n")" }
    return $json | ConvertFrom-Json
}

# A client running in the background; read its JSON lines from StandardOutput.
function Start-Client([string]$Mode, [int]$Port, $Argument = $null) {
    $psi = [Diagnostics.ProcessStartInfo]::new('python3')
    foreach ($a in @($py, $Mode, $server.Host, "$Port", (ConvertTo-ClientArgument $Argument))) { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    [Diagnostics.Process]::Start($psi)
}

# Trickle checks on a 'trickle' client result: the response came byte by byte, about (len - 1) * delayMs in all.
function Test-Trickled([string]$Name, $Result, [int]$DelayMs) {
    $expected = ($Result.len - 1) * $DelayMs / 1000.0
    $detail = $Result | ConvertTo-Json -Compress
    Check "${Name}: first byte comes quickly" ($null -ne $Result.first -and $Result.first -lt 0.5) $detail
    Check "${Name}: one byte at a time" ($Result.len -gt 1 -and $Result.chunks -ge $Result.len - 1) $detail
    Check "${Name}: takes about (len - 1) * DelayMs" ($Result.total -ge $expected * 0.9 -and $Result.total -lt $expected + 1.5) "expected ~$expected s: $detail"
}

# Seconds since 1970 on the clock python's time.time() reads.
function Get-UnixTime { [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() / 1000.0 }

# Whether a client saw its connection close at $At because of a Stop() begun at $StoppedAt: not
# before it, and within 5 s. (Timed from Stop(), not from the client's last line: on a busy machine
# starting the other clients took longer than that.)
function Test-ClosedByStop([double]$At, [double]$StoppedAt) { $At -ge $StoppedAt - 0.05 -and $At - $StoppedAt -lt 5 }

# A 'trickle' client with 'stop' got its first byte: Stop() must return promptly and close the connection.
function Test-StopDuringTrickle([Diagnostics.Process]$Process) {
    $first = $Process.StandardOutput.ReadLine() | ConvertFrom-Json
    Check 'trickle: client got the first byte' ($null -ne $first.first -and $first.first -lt 0.5) ($first | ConvertTo-Json -Compress)
    $stoppedAt = Get-UnixTime
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $server.Stop()
    $sw.Stop()
    Check 'trickle: Stop() during a trickle returns within 2 s' ($sw.ElapsedMilliseconds -lt 2000) "$($sw.ElapsedMilliseconds) ms"
    $second = $Process.StandardOutput.ReadLine() | ConvertFrom-Json
    [void]$Process.WaitForExit(10000)
    Check 'trickle: client sees the connection closed by Stop()' ($second.closed -and (Test-ClosedByStop $second.at $stoppedAt)) "$($second | ConvertTo-Json -Compress) stopped at $stoppedAt"
}

# With 'never' clients waiting on $Processes (each printed its first line): Stop() must return promptly and
# close their connections.
function Test-StopClosesClients([Diagnostics.Process[]]$Processes) {
    $stoppedAt = Get-UnixTime
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $server.Stop()
    $sw.Stop()
    Check 'hang: Stop() returns quickly' ($sw.ElapsedMilliseconds -lt 2000) "$($sw.ElapsedMilliseconds) ms"
    foreach ($p in $Processes) {
        $second = $p.StandardOutput.ReadLine() | ConvertFrom-Json
        [void]$p.WaitForExit(10000)
        Check 'hang: client sees the connection closed by Stop()' ($second.closed -and (Test-ClosedByStop $second.at $stoppedAt)) "$($second | ConvertTo-Json -Compress) stopped at $stoppedAt"
    }
}
