# Dot-sourced by every test file in BeforeAll: imports the BUILT module (never the source) and
# the mock mail server, and gives the helpers the tests share.

$modulePath = if ($env:MAILPROTOCOLS_MODULE) { $env:MAILPROTOCOLS_MODULE } else {
    Get-ChildItem (Join-Path $PSScriptRoot '../out/MailProtocols') -Filter MailProtocols.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName
}
$mockPath = if ($env:MAILPROTOCOLS_MOCKSERVER) { $env:MAILPROTOCOLS_MOCKSERVER } else {
    Join-Path $PSScriptRoot '../out/MockMailServer/MockMailServer.dll'
}
Import-Module $modulePath -Force
Add-Type -Path $mockPath
# The tests parse what the mock received with their own MimeKit, a copy of the one the module
# ships; it loads into the default context, apart from the module's private one.
Add-Type -Path (Join-Path (Split-Path $modulePath) 'core/dependencies/MimeKit.dll')

function Get-EngineType {
    # A type of the engine (e.g. an output type), by name. The engine loads in the module's
    # private load context, where PowerShell's type literals do not look. A command that fails
    # on bad input before connecting makes sure it is loaded.
    param([string] $Name)
    $engine = { [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'MailProtocols.Engine' } | Select-Object -First 1 }
    if (-not (& $engine)) {
        Send-SmtpMessage -SmtpServer localhost -From 'not an address' -To 'x@example.com' -ErrorAction SilentlyContinue
    }
    (& $engine).GetType($Name, $true)
}

function ConvertFrom-RawMessage {
    # Parses raw message bytes (as the mock recorded them) into a MimeKit.MimeMessage.
    param([byte[]] $Data)
    [MimeKit.MimeMessage]::Load([IO.MemoryStream]::new($Data))
}

function New-MockServer {
    # Starts the mock on free loopback ports; Start() returns once both listeners accept.
    $server = [MockMail.MockServer]::new()
    $server.Start()
    $server
}

function Get-MimeHeader {
    # The unfolded value of one header of a raw message.
    param([string] $Raw, [string] $Name)
    $head = ($Raw -split "`r`n`r`n", 2)[0] -replace "`r`n[ `t]+", ' '
    foreach ($line in $head -split "`r`n") {
        if ($line -match "^$([regex]::Escape($Name)):\s*(.*)$") { return $Matches[1] }
    }
}

function Invoke-Captured {
    # Runs a script block and returns every stream's records, and the text of the errors,
    # for scanning for secrets.
    param([scriptblock] $Script)
    $records = & {
        $VerbosePreference = 'Continue'
        $DebugPreference = 'Continue'
        $InformationPreference = 'Continue'
        $WarningPreference = 'Continue'
        & $Script
    } *>&1
    $text = foreach ($r in $records) {
        if ($r -is [System.Management.Automation.ErrorRecord]) {
            $r.ToString(); $r.Exception.ToString(); $r.Exception.InnerException | Out-String
            $r.TargetObject | Out-String
        }
        else { $r | Out-String; $r | Format-List * | Out-String }
    }
    [pscustomobject]@{ Records = $records; Text = ($text -join "`n") }
}

function Get-FreeTcpPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Start-Smtp4dev {
    # Starts smtp4dev (a real SMTP + POP3 server, a dotnet tool of this repository) on free
    # loopback ports with an in-memory database, and waits, a bounded number of times, until
    # its SMTP port and web API answer.
    param([string[]] $ExtraArguments = @())
    $repo = Split-Path $PSScriptRoot
    $data = Join-Path ([IO.Path]::GetTempPath()) "smtp4dev-$([guid]::NewGuid().ToString('n'))"
    $null = New-Item -ItemType Directory -Path $data
    $server = [pscustomobject]@{
        SmtpPort = Get-FreeTcpPort
        Pop3Port = Get-FreeTcpPort
        WebUrl   = "http://127.0.0.1:$(Get-FreeTcpPort)"
        DataPath = $data
        Process  = $null
    }
    $arguments = @('tool', 'run', 'smtp4dev', '--',
        "--smtpport=$($server.SmtpPort)", "--pop3port=$($server.Pop3Port)", "--imapport=$(Get-FreeTcpPort)",
        '--db=', "--urls=$($server.WebUrl)", '--nousersettings', '--bindaddress=127.0.0.1',
        '--hostname=localhost', "--baseappdatapath=$data") + $ExtraArguments
    $server.Process = Start-Process -FilePath dotnet -ArgumentList $arguments -WorkingDirectory $repo -PassThru `
        -RedirectStandardOutput (Join-Path $data 'stdout.log') -RedirectStandardError (Join-Path $data 'stderr.log')
    foreach ($try in 1..120) {
        if ($server.Process.HasExited) { break }
        try {
            $client = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $server.SmtpPort)
            $client.Dispose()
            $null = Invoke-RestMethod "$($server.WebUrl)/api/messages" -TimeoutSec 2
            return $server
        }
        catch { Start-Sleep -Milliseconds 500 }
    }
    $log = Get-Content (Join-Path $data 'stdout.log') -Raw -ErrorAction SilentlyContinue
    Stop-Smtp4dev $server
    throw "smtp4dev did not become ready within 60 s. Its output:`n$log"
}

function Stop-Smtp4dev {
    param($Server)
    if ($Server.Process -and -not $Server.Process.HasExited) {
        $Server.Process.Kill($true)
        $null = $Server.Process.WaitForExit(10000)
    }
    Remove-Item $Server.DataPath -Recurse -Force -ErrorAction SilentlyContinue
}

function Assert-NoSecret {
    # Fails when the text holds any of the secrets, as they are or base64-encoded (as AUTH sends them).
    param([string] $Text, [string[]] $Secret)
    foreach ($s in $Secret) {
        $Text | Should -Not -Match ([regex]::Escape($s))
        $Text | Should -Not -Match ([regex]::Escape([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($s))))
    }
}

function New-Pop3Parameters {
    # Connection parameters of the mock's POP3 side for alice, short timeout.
    param($Mock, [pscredential] $Credential)
    @{
        Pop3Server           = $Mock.Host
        Port                 = $Mock.Pop3Port
        Credential           = $Credential
        SkipCertificateCheck = $true
        TimeoutSec           = 5
    }
}

function Measure-Stop {
    # Runs a command of the module in a background runspace, waits (bounded) until the mock saw
    # what -Until looks for, then stops it as Ctrl+C does. Returns whether the wait was reached,
    # how long Stop() took, and the final state.
    param([scriptblock] $Script, [object[]] $ArgumentList = @(), [scriptblock] $Until)
    $ps = [powershell]::Create()
    $null = $ps.AddScript("Import-Module '$modulePath'").AddStatement().AddScript($Script)
    foreach ($argument in $ArgumentList) { $null = $ps.AddArgument($argument) }
    $async = $ps.BeginInvoke()
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while (-not (& $Until) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
    $reached = [bool](& $Until)
    # The time counted is until the invocation has really ended, not only until Stop() returned.
    $watch = [Diagnostics.Stopwatch]::StartNew()
    $ps.Stop()
    $completed = $async.AsyncWaitHandle.WaitOne(5000)
    $watch.Stop()
    $result = [pscustomobject]@{
        Reached   = $reached
        Seconds   = $watch.Elapsed.TotalSeconds
        Completed = $completed
        State     = $ps.InvocationStateInfo.State
    }
    $ps.Dispose()
    $result
}

function Enable-SecretWatch {
    # For BeforeEach: every command of the module in this test writes a transcript (unless the
    # test names its own), and the test's errors are collected from here on.
    param([string] $Path)
    $global:Error.Clear()
    $defaults = @{}
    foreach ($command in 'Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message') { $defaults["${command}:TranscriptPath"] = $Path }
    $defaults
}

function Assert-NoSecretLeft {
    # For AfterEach: the transcript and every error of the test (with its exception text) must
    # hold none of the secrets.
    param([string] $Path, [string[]] $Secret)
    $text = ($global:Error | ForEach-Object {
            $_ | Out-String
            if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.ToString() } else { $_.ToString() }
        }) -join "`n"
    if (Test-Path $Path) { $text += Get-Content $Path -Raw }
    Assert-NoSecret -Text $text -Secret $Secret
}

function Invoke-ScriptTask {
    # Runs $Body as a scheduled task runs a script: a child `pwsh -NoProfile -NonInteractive
    # -File`, no preference variable set. The script starts with the module imported and
    # $Server, $SmtpPort, $Pop3Port, $DeadPort (nothing listens there), $Cred (alice) and $Bad
    # (alice, wrong password) defined. Returns the exit code, the printed lines (errors
    # included), and whether the line 'NEXT-LINE-RAN' was printed.
    param($Mock, [string] $Body)
    $password = $Mock.Users['alice'] -replace "'", "''"
    $script = Join-Path $TestDrive "task-$([guid]::NewGuid().ToString('n')).ps1"
    Set-Content -LiteralPath $script -Value @"
Import-Module '$modulePath'
`$Server = '$($Mock.Host)'; `$SmtpPort = $($Mock.SmtpPort); `$Pop3Port = $($Mock.Pop3Port); `$DeadPort = $(Get-FreeTcpPort)
`$Cred = [pscredential]::new('alice', (ConvertTo-SecureString '$password' -AsPlainText -Force))
`$Bad = [pscredential]::new('alice', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
$Body
"@
    $lines = @(& (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script 2>&1 | ForEach-Object { "$_" })
    [pscustomobject]@{
        ExitCode    = $LASTEXITCODE
        Lines       = $lines
        Output      = $lines -join "`n"
        NextLineRan = $lines -contains 'NEXT-LINE-RAN'
    }
}

function Get-Failure {
    # Runs $Command silenced and returns its first error as a hashtable (Id, Category, Code,
    # Message, Target, Errors) with NextLineRan: a non-terminating error (WriteError) lets the
    # next line run and reaches no catch; a terminating one (ThrowTerminatingError, an exception)
    # lands in catch whatever the preference. Used in the children of Invoke-TrustingChild.
    param([scriptblock] $Command)
    $Error.Clear()
    $ErrorActionPreference = 'SilentlyContinue'
    $ran = $false
    try { & $Command | Out-Null; $ran = $true } catch { $ran = $false }
    $e = $Error[0]
    if (-not $e) { return @{ NextLineRan = $ran } }
    @{ Id = $e.FullyQualifiedErrorId; Category = "$($e.CategoryInfo.Category)"; Code = $e.Exception.ServiceErrorCode; Message = $e.Exception.Message; Target = "$($e.TargetObject)"; NextLineRan = $ran; Errors = $Error.Count }
}

function Invoke-TrustingChild {
    # Runs $Body in a child pwsh that trusts the CA of $CaBundle (a PEM file) the way the
    # operating system's trust store does (on Linux .NET reads OpenSSL's SSL_CERT_FILE), with
    # common.ps1 loaded and $p holding -Data; the body fills the ordered dictionary $outcome,
    # which comes back as an object. -HomeDir gives the child a HOME of its own.
    param([string] $Body, [hashtable] $Data, [string] $CaBundle, [string] $HomeDir)
    $dataFile = Join-Path $TestDrive "data-$([guid]::NewGuid().ToString('n')).json"
    $Data | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $dataFile
    $script = Join-Path $TestDrive "child-$([guid]::NewGuid().ToString('n')).ps1"
    Set-Content -LiteralPath $script -Value @"
`$ErrorActionPreference = 'Continue'
. '$(Join-Path $PSScriptRoot 'common.ps1')'
`$p = Get-Content -LiteralPath '$dataFile' -Raw | ConvertFrom-Json
`$outcome = [ordered]@{}
$Body
'OUTCOME:' + (`$outcome | ConvertTo-Json -Depth 6 -Compress)
"@
    $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
    foreach ($argument in '-NoProfile', '-NonInteractive', '-File', $script) { $start.ArgumentList.Add($argument) }
    $start.UseShellExecute = $false
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.Environment['SSL_CERT_FILE'] = $CaBundle
    $start.Environment['MAILPROTOCOLS_MODULE'] = $modulePath
    $start.Environment['MAILPROTOCOLS_MOCKSERVER'] = $mockPath
    if ($HomeDir) { $start.Environment['HOME'] = $HomeDir }
    $process = [Diagnostics.Process]::Start($start)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if (-not $process.WaitForExit(180000)) {
        $process.Kill($true)
        throw "The child did not end within 180 s: $($stdout.Result)"
    }
    $process.WaitForExit()
    $line = $stdout.Result -split "`n" | Where-Object { $_ -like 'OUTCOME:*' } | Select-Object -Last 1
    if (-not $line) { throw "The child printed no outcome.`n$($stdout.Result)`n$($stderr.Result)" }
    $line.Substring(8) | ConvertFrom-Json
}

function Start-Child {
    # A child pwsh whose environment gets $Environment on top of this one's; stdin stays open so
    # that the child can wait on it. Its lines are read with Read-ChildLine.
    param([string] $Command, [hashtable] $Environment = @{})
    $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
    foreach ($argument in '-NoProfile', '-NonInteractive', '-Command', $Command) { $start.ArgumentList.Add($argument) }
    $start.UseShellExecute = $false
    $start.RedirectStandardInput = $true
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    foreach ($key in $Environment.Keys) { $start.Environment[$key] = $Environment[$key] }
    $process = [Diagnostics.Process]::Start($start)
    $process | Add-Member -NotePropertyName Errors -NotePropertyValue $process.StandardError.ReadToEndAsync() -PassThru
}

function Read-ChildLine {
    # The rest of the child's next line that starts with $Prefix; throws with the child's errors
    # when none comes within 60 s.
    param($Process, [string] $Prefix)
    $stderr = $Process.Errors
    while ($true) {
        $read = $Process.StandardOutput.ReadLineAsync()
        if (-not $read.Wait(60000) -or $null -eq $read.Result) { throw "The child said no '$Prefix' line. Its errors: $(if ($stderr.Wait(1000)) { $stderr.Result })" }
        if ($read.Result.StartsWith($Prefix)) { return $read.Result.Substring($Prefix.Length) }
    }
}

function New-OldTlsOpenSslConfig {
    # OpenSSL 3 here refuses TLS 1.0 and 1.1 on both sides. This configuration, given to child
    # processes only (as OPENSSL_CONF), lowers the security level so that a mock in a child can
    # offer nothing newer than TLS 1.1; this machine's configuration is untouched. Returns its path.
    $path = Join-Path $TestDrive 'openssl-old-tls.cnf'
    Set-Content -LiteralPath $path -Value @(
        'openssl_conf = probe_init'
        '[probe_init]'
        'ssl_conf = probe_ssl'
        '[probe_ssl]'
        'system_default = probe_defaults'
        '[probe_defaults]'
        'MinProtocol = TLSv1'
        'CipherString = DEFAULT:@SECLEVEL=0'
    )
    $path
}
