<#
.SYNOPSIS
    Speed benchmark against a real Postfix 3.7 and Dovecot 2.3 on loopback: the SMTP and POP3
    workloads of SmtpThroughput.ps1 and Pop3Throughput.ps1, each beside its peers in one run.

.DESCRIPTION
    Needs Linux, root, and the Debian packages postfix, dovecot-core and dovecot-pop3d. Without
    them (and without -Install) it prints why it is skipped and exits 0. -Install runs apt-get
    (Postfix preseeded to "No configuration"; a policy-rc.d that exits 101 keeps the package
    scripts from starting the system daemons) and adds the system user that owns the Maildirs.

    Each run builds private instances in a temporary folder and removes them at the end: no
    system daemon is started or configured. Postfix runs with `postfix -c DIR`, smtpd on a free
    loopback port with STARTTLS and SMTP AUTH through Dovecot's auth socket, delivering with
    virtual(8) into a Maildir; Dovecot runs with `dovecot -c FILE`, POP3 with STLS, users from a
    passwd-file. The certificate is a self-signed one made for the run; no contender validates
    it (-SkipCertificateCheck, an unverified ssl context, an accept-all callback), so every
    contender pays for the same TLS handshake and encryption and none for chain building.

    SMTP (-Count messages, one connection each, STARTTLS, AUTH PLAIN as the same user):
      Send-SmtpMessage with piped rows; MailKit's SmtpClient.Send loop (bench/MailKitPeers);
      Python smtplib sendmail (prebuilt text) and send_message (composed EmailMessage); raw C#
      clients: "legal DATA" (per message one write and a wait for the 354) and "BDAT all at once"
      (MAIL, RCPT and BDAT n LAST for every message written while a second thread reads the
      replies: what Postfix itself allows). Every contender's messages are counted in the Maildir
      before the next one starts, so Postfix's deliveries do not overlap the next measurement.
    POP3 (a mailbox per -Pop3Counts entry, filled by writing Maildir files directly; messages of
    about 4.2 KB up to 2,000 messages, about 1.4 KB above, as in issue 9):
      Get-Pop3Message headers listing, -IncludeBody (also with every TextBody then read: the
      objects parse a body when first asked for), -Destination (durable files); MailKit
      GetMessageHeaders/GetMessage loops and GetStream to files, and its batch calls; poplib
      TOP n 0, RETR, and RETR writing files without fsync; raw C# clients writing every TOP n 0
      (or RETR) at once while reading (Dovecot's ceiling), and saving files: without fsync, and
      durable with no more than -Destination's guarantees need (per 256 messages: .partial files
      made durable by one syncfs or by parallel fsyncs, renamed, the folder fsynced), the ceiling
      of a durable save here. A closing line gives that ceiling against poplib's file loop and
      ours against it.
    Each contender runs -Runs times and its best time is kept (the machine is shared and noisy).
    Our cmdlets first run each workload once untimed (cold JIT made first runs cost several times
    the CPU); their rows also give this process's CPU time (user+system) per message.
    Ratios divide the peer's time by the row's (above 1: faster than the peer).

        dotnet pwsh ./bench/RealServers.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -Install
        dotnet pwsh ./bench/RealServers.ps1 -ModulePath out/MailProtocols/<v>/MailProtocols.psd1 -Work Pop3 -Runs 3
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    # Accepted so that build.ps1 -Task Bench can pass it to every script; not used here.
    [string] $MockServerPath,
    [switch] $Install,
    # Leave the temporary folder (configurations, server logs) for inspection.
    [switch] $KeepState,
    [int] $Count = 500,
    # A list; with pwsh -File, one argument such as 2000,10000 (it arrives as one string).
    [string[]] $Pop3Counts = @('2000', '10000'),
    # Which workloads to measure: Smtp, Pop3, or both (the default).
    [ValidateSet('Smtp', 'Pop3')] [string[]] $Work = @('Smtp', 'Pop3'),
    [int] $Runs = 2
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
$MailboxCounts = [int[]]($Pop3Counts -split ',')
$MailUser = 'mailprotocols-bench'
# Start-Postfix and Stop-Postfix: the private Postfix instance the tests use too.
. (Join-Path $PSScriptRoot '../tests/TestTools/Postfix.ps1')
$Password = 'bench-password'

function Test-Servers {
    # Returns why the servers cannot run here, or nothing.
    if (-not $IsLinux) { return 'not Linux' }
    if ((id -u) -ne '0') { return 'not root (private Postfix and Dovecot instances need root)' }
    foreach ($path in '/usr/sbin/postfix', '/usr/sbin/dovecot', '/usr/lib/dovecot/pop3') {
        if (-not (Test-Path $path)) { return "$path is missing (packages postfix, dovecot-core, dovecot-pop3d)" }
    }
    $null = & getent passwd $MailUser
    if ($LASTEXITCODE -ne 0) { return "the user $MailUser that owns the benchmark Maildirs is missing" }
}

function Install-Servers {
    if (-not $IsLinux -or (id -u) -ne '0') { throw '-Install needs Linux and root.' }
    'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    $policy = '/usr/sbin/policy-rc.d'
    $ownPolicy = -not (Test-Path $policy)
    if ($ownPolicy) { Set-Content $policy "#!/bin/sh`nexit 101"; chmod 755 $policy }
    try {
        apt-get update | Out-Host
        $env:DEBIAN_FRONTEND = 'noninteractive'
        apt-get install -y --no-install-recommends postfix dovecot-core dovecot-pop3d | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "apt-get install failed ($LASTEXITCODE)" }
    }
    finally {
        if ($ownPolicy) { Remove-Item $policy }
    }
    $null = & getent passwd $MailUser
    if ($LASTEXITCODE -ne 0) {
        useradd --system --no-create-home --shell /usr/sbin/nologin $MailUser
        if ($LASTEXITCODE -ne 0) { throw "useradd $MailUser failed" }
    }
}

function Get-FreePort {
    $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Wait-Port([int] $Port, [string] $Log) {
    $deadline = [DateTime]::UtcNow.AddSeconds(20)
    while ([DateTime]::UtcNow -lt $deadline) {
        try { ([Net.Sockets.TcpClient]::new('127.0.0.1', $Port)).Dispose(); return } catch { Start-Sleep -Milliseconds 200 }
    }
    if (Test-Path $Log) { Get-Content $Log -Tail 20 | Out-Host }
    throw "nothing listens on 127.0.0.1:$Port"
}

function New-Certificate([string] $Dir) {
    $rsa = [Security.Cryptography.RSA]::Create(2048)
    $request = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=localhost', $rsa, 'SHA256', [Security.Cryptography.RSASignaturePadding]::Pkcs1)
    $san = [Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
    $san.AddDnsName('localhost'); $san.AddIpAddress([Net.IPAddress]::Loopback)
    $request.CertificateExtensions.Add($san.Build())
    $cert = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(2))
    Set-Content (Join-Path $Dir 'cert.pem') $cert.ExportCertificatePem()
    Set-Content (Join-Path $Dir 'key.pem') $rsa.ExportPkcs8PrivateKeyPem()
    chmod 600 (Join-Path $Dir 'key.pem')
}

function Add-MaildirMessages([string] $Maildir, [int] $Number, [int] $Size) {
    # Files written straight into cur/ (delivered and seen) as a delivery agent writes them: LF
    # line ends, the size (S=) and the size with CRLF line ends (W=) in the name.
    $cur = Join-Path $Maildir 'cur'
    $line = "This line is filler to give the message its size; it is plain ASCII text.`n"
    for ($n = 1; $n -le $Number; $n++) {
        $head = "From: Sender $n <sender$n@example.com>`nTo: <reader@example.com>`nSubject: Test message $n`n" +
            "Date: $([DateTime]::new(2024, 1, 15, 9, 0, 0).AddMinutes($n).ToString('ddd, dd MMM yyyy HH:mm:ss +0000', [Globalization.CultureInfo]::InvariantCulture))`n" +
            "Message-ID: <$n.real@example.com>`nMIME-Version: 1.0`nContent-Type: text/plain; charset=utf-8`n`nThis is test message $n.`n"
        $text = $head + ($line * [math]::Max(1, [math]::Floor(($Size - $head.Length) / $line.Length)))
        $bytes = [Text.Encoding]::ASCII.GetBytes($text)
        $lines = ($text.Length - $text.Replace("`n", '').Length)
        $name = '{0}.M{1}P{2}.bench,S={3},W={4}:2,S' -f (1700000000 + $n), $n, $PID, $bytes.Length, ($bytes.Length + $lines)
        [IO.File]::WriteAllBytes((Join-Path $cur $name), $bytes)
    }
}

function Start-Servers([string] $State) {
    # Returns the instance: ports, folders, and how to stop it.
    $uid = [int](id -u $MailUser); $gid = [int](id -g $MailUser)
    $smtpPort = Get-FreePort; $pop3Port = Get-FreePort
    New-Certificate $State
    $mail = Join-Path $State 'mail'
    $users = foreach ($name in @('sink') + ($MailboxCounts | ForEach-Object { "pop$_" })) {
        foreach ($sub in 'cur', 'new', 'tmp') { $null = New-Item -ItemType Directory -Path (Join-Path $mail "$name/Maildir/$sub") -Force }
        "${name}:{PLAIN}${Password}:${uid}:${gid}::$mail/${name}::"
    }
    Set-Content (Join-Path $State 'users') $users
    foreach ($c in $MailboxCounts) { Add-MaildirMessages (Join-Path $mail "pop$c/Maildir") $c ($c -le 2000 ? 4300 : 1400) }
    chown -R "${uid}:${gid}" $mail
    chmod -R go-rwx $mail

    $dh = if (Test-Path /usr/share/dovecot/dh.pem) { 'ssl_dh = </usr/share/dovecot/dh.pem' }
    $dovecotConf = Join-Path $State 'dovecot.conf'
    Set-Content $dovecotConf @"
base_dir = $State/dovecot-run
state_dir = $State/dovecot-state
log_path = $State/dovecot.log
instance_name = mailprotocols-bench-$PID
protocols = pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <$State/cert.pem
ssl_key = <$State/key.pem
$dh
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = $uid
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $State/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $State/users
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3Port
  }
  inet_listener pop3s {
    port = 0
  }
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
"@

    $instance = [pscustomobject]@{ State = $State; SmtpPort = $smtpPort; Pop3Port = $pop3Port; Mail = $mail; Postfix = $null; DovecotConf = $dovecotConf; Started = @() }
    try {
        dovecot -c $dovecotConf
        if ($LASTEXITCODE -ne 0) { throw "dovecot -c $dovecotConf failed ($LASTEXITCODE)" }
        $instance.Started += 'dovecot'
        Wait-Port $pop3Port (Join-Path $State 'dovecot.log')
        # Messages for example.com land in the sink user's Maildir, which Dovecot serves too.
        $instance.Postfix = Start-Postfix -Directory $State -Port $smtpPort -SaslPath "$State/dovecot-run/auth-client" -MailRoot $mail -MailUser $MailUser -Setting ([ordered]@{
                smtpd_tls_cert_file      = "$State/cert.pem"
                smtpd_tls_key_file       = "$State/key.pem"
                smtpd_tls_security_level = 'may'
                smtpd_tls_auth_only      = 'yes'
                smtpd_relay_restrictions = 'permit_sasl_authenticated, reject_unauth_destination'
            })
    }
    catch {
        Stop-Servers $instance
        throw
    }
    $instance
}

function Stop-Servers($Instance) {
    Stop-Postfix $Instance.Postfix
    if ($Instance.Started -contains 'dovecot') { dovecot -c $Instance.DovecotConf stop 2>&1 | Out-Null }
}

$why = Test-Servers
if ($why -and $Install) {
    Install-Servers
    $why = Test-Servers
}
if ($why) {
    Write-Host "RealServers.ps1 skipped: $why. Run it as root with -Install to install Postfix and Dovecot (apt-get) and measure against them."
    exit 0
}

Import-Module (Resolve-Path $ModulePath).Path
. (Join-Path $PSScriptRoot 'MailKitPeers/MailKitPeers.ps1')
$harness = Get-MailKitPeers

Add-Type -Path (Join-Path $PSScriptRoot 'RawClients.cs')
# Message n as the raw clients send it ({0}: n, {1}: the count).
$rawMessage = "From: <bench@example.com>`r`nTo: <user{0}@example.com>`r`nSubject: Bench {0}`r`nDate: Mon, 15 Jan 2024 09:00:00 +0000`r`n" +
    "Message-ID: <{0}.bench@example.com>`r`nMIME-Version: 1.0`r`nContent-Type: text/plain; charset=utf-8`r`n`r`nMessage {0}`r`n"

$python = @('/usr/bin/python3', (Get-Command python3 -ErrorAction SilentlyContinue).Source) | Where-Object { $_ -and (Test-Path $_) } | Select-Object -First 1
$peers = Join-Path $PSScriptRoot 'peers.py'

$state = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-bench-real-$PID"
$null = New-Item -ItemType Directory -Path $state
$instance = $null
try {
    $instance = Start-Servers $state
    $securePassword = ConvertTo-SecureString $Password -AsPlainText -Force
    $best = [ordered]@{}
    $cpu = @{}
    $alloc = @{}
    function Set-Best([string] $Name, [double] $Seconds, [double] $CpuSeconds = -1, [double] $AllocatedBytes = -1) {
        $best[$Name] = [math]::Min($Seconds, ($best[$Name] ?? [double]::MaxValue))
        if ($CpuSeconds -ge 0) { $cpu[$Name] = [math]::Min($CpuSeconds, ($cpu[$Name] ?? [double]::MaxValue)) }
        if ($AllocatedBytes -ge 0) { $alloc[$Name] = [math]::Min($AllocatedBytes, ($alloc[$Name] ?? [double]::MaxValue)) }
    }
    # User+system CPU time of this process, all its threads: what our cmdlets cost beside the servers.
    function Get-CpuSeconds { [Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalSeconds }
    # Bytes allocated on the managed heap by this process so far, all threads.
    function Get-AllocatedBytes { [GC]::GetTotalAllocatedBytes($true) }

    # SMTP. Delivered messages are counted in the sink Maildir after each contender.
    if ($Work -contains 'Smtp') {
        $sink = Join-Path $instance.Mail 'sink/Maildir'
        $expected = 0
        function Wait-Delivered([string] $Tool, [int] $Sent) {
            $script:expected += $Sent
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            do {
                $have = [IO.Directory]::GetFiles("$sink/new").Length + [IO.Directory]::GetFiles("$sink/cur").Length
                if ($have -ge $script:expected) { break }
                Start-Sleep -Milliseconds 200
            } while ([DateTime]::UtcNow -lt $deadline)
            if ($have -ne $script:expected) { throw "after $Tool the Maildir holds $have messages, expected $script:expected" }
        }
        $smtpCred = [pscredential]::new('sink', $securePassword)
        $rows = 1..$Count | ForEach-Object { [pscustomobject]@{ To = "user$_@example.com"; Subject = "Bench $_"; Body = "Message $_ of $Count" } }
        $send = { param($r) $r | Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $instance.SmtpPort -TlsMode StartTls -SkipCertificateCheck -Credential $smtpCred -From 'bench@example.com' | Out-Null }

        # Warm up (assembly loading and JIT are not what is measured): one whole untimed run of ours,
        # as cold JIT made the first runs cost several times the CPU of warm ones.
        & $send $rows; Wait-Delivered 'warm-up' $Count
        $null = [RawClients]::Smtp('127.0.0.1', $instance.SmtpPort, 'sink', $Password, 5, $rawMessage, 'BdatAllAtOnce'); Wait-Delivered 'warm-up' 5
        foreach ($run in 1..$Runs) {
            $cpuBefore = Get-CpuSeconds
            $t = (Measure-Command { & $send $rows }).TotalSeconds
            Set-Best 'smtp ours' $t ((Get-CpuSeconds) - $cpuBefore)
            Wait-Delivered 'Send-SmtpMessage' $Count
            Set-Best 'smtp raw legal' ([RawClients]::Smtp('127.0.0.1', $instance.SmtpPort, 'sink', $Password, $Count, $rawMessage, 'LegalData'))
            Wait-Delivered 'raw legal DATA' $Count
            Set-Best 'smtp raw bdat' ([RawClients]::Smtp('127.0.0.1', $instance.SmtpPort, 'sink', $Password, $Count, $rawMessage, 'BdatAllAtOnce'))
            Wait-Delivered 'raw BDAT' $Count
            if ($python) {
                foreach ($kind in 'text', 'composed') {
                    $t = & $python $peers smtp 127.0.0.1 $instance.SmtpPort 'sink' $Password $Count 1 $kind | ConvertFrom-Json
                    if ($LASTEXITCODE -ne 0) { throw "smtplib run failed ($LASTEXITCODE)" }
                    Set-Best "smtp smtplib $kind" $t.$kind
                    Wait-Delivered "smtplib $kind" $Count
                }
            }
        }
        $mk = Invoke-MailKitPeers $harness @('smtp', '127.0.0.1', $instance.SmtpPort, $Count, $Runs, 'sink', $Password)
        Wait-Delivered 'MailKit SmtpClient' ($Count * $Runs + 3)
        $best['smtp mailkit'] = $mk.send
    }

    # Each POP3 contender starts with the mailbox's files in the page cache, so that none pays for
    # disk reads another did not (this machine kind drops cold page cache within minutes).
    function Read-Mailbox([string] $User) {
        foreach ($file in [IO.Directory]::EnumerateFiles((Join-Path $instance.Mail "$User/Maildir"), '*', 'AllDirectories')) { $null = [IO.File]::ReadAllBytes($file) }
    }

    # POP3, one mailbox per count. A first raw pass lets Dovecot build its index before timing.
    # Saved files are kept until the end: on this machine kind's ext4 each file created within
    # minutes of many deletions scans the recently deleted inodes (perf: recently_deleted, in
    # __ext4_new_inode), 0.15 ms a file at 10,000 against 0.015 ms, so deleting one contender's
    # files would slow the next one's.
    foreach ($c in $(if ($Work -contains 'Pop3') { $MailboxCounts })) {
        $user = "pop$c"
        $cred = [pscredential]::new($user, $securePassword)
        $common = @{ Pop3Server = '127.0.0.1'; Port = $instance.Pop3Port; Credential = $cred; TlsMode = 'StartTls'; SkipCertificateCheck = $true }
        $null = [RawClients]::Pop3('127.0.0.1', $instance.Pop3Port, $user, $Password, $c, $true)
        $folderNumber = 0
        # Run 0 is each of ours once, untimed: the warm-up (JIT), as for SMTP.
        foreach ($run in 0..$Runs) {
            foreach ($k in 'headers', 'body', 'body read', 'files') {
                $folder = (New-Item -ItemType Directory -Path (Join-Path $state "ours$c-$((++$folderNumber))")).FullName
                $result = $null
                Read-Mailbox $user
                $cpuBefore = Get-CpuSeconds
                $allocBefore = Get-AllocatedBytes
                $t = (Measure-Command {
                        $result = switch ($k) {
                            'headers' { @(Get-Pop3Message @common) }
                            'body' { @(Get-Pop3Message @common -IncludeBody) }
                            # The objects parse a message's body when first asked for: the cost
                            # of reading every one, as a script that uses them would.
                            'body read' {
                                $all = @(Get-Pop3Message @common -IncludeBody)
                                foreach ($m in $all) { $null = $m.TextBody }
                                $all
                            }
                            'files' { @(Get-Pop3Message @common -Destination $folder) }
                        }
                    }).TotalSeconds
                $cpuSeconds = (Get-CpuSeconds) - $cpuBefore
                $allocated = (Get-AllocatedBytes) - $allocBefore
                if ($result.Count -ne $c) { throw "Get-Pop3Message ($k) returned $($result.Count) of $c messages" }
                if ($k -eq 'files' -and [IO.Directory]::GetFiles($folder, '*.eml').Length -ne $c) { throw "Get-Pop3Message -Destination saved fewer than $c files" }
                if ($run -gt 0) { Set-Best "pop3 $c $($k -replace ' read$') ours$($k -replace '^[a-z]+')" $t $cpuSeconds $allocated }
            }
            if ($run -eq 0) { continue }
            foreach ($kind in @(@('headers', $true), @('body', $false))) {
                Read-Mailbox $user
                $cpuBefore = Get-CpuSeconds
                $allocBefore = Get-AllocatedBytes
                $t = [RawClients]::Pop3('127.0.0.1', $instance.Pop3Port, $user, $Password, $c, $kind[1])
                Set-Best "pop3 $c $($kind[0]) raw" $t ((Get-CpuSeconds) - $cpuBefore) ((Get-AllocatedBytes) - $allocBefore)
            }
            # Raw clients saving files: without fsync (as the poplib loop), and durable the way
            # -Destination must be, in batches of 256 as ours (one syncfs; or 8 threads' fsyncs).
            foreach ($kind in @(@('raw', $false, $false), @('raw syncfs', $true, $false), @('raw fsync', $true, $true))) {
                $folder = (New-Item -ItemType Directory -Path (Join-Path $state "raw$c-$((++$folderNumber))")).FullName
                Read-Mailbox $user
                $cpuBefore = Get-CpuSeconds
                $allocBefore = Get-AllocatedBytes
                $t = [RawClients]::Pop3Files('127.0.0.1', $instance.Pop3Port, $user, $Password, $c, $folder, $kind[1], $kind[2], 256)
                Set-Best "pop3 $c files $($kind[0])" $t ((Get-CpuSeconds) - $cpuBefore) ((Get-AllocatedBytes) - $allocBefore)
                if ([IO.Directory]::GetFiles($folder, '*.eml').Length -ne $c) { throw "the raw client ($($kind[0])) saved fewer than $c files" }
            }
        }
        Read-Mailbox $user
        $mk = Invoke-MailKitPeers $harness @('pop3', '127.0.0.1', $instance.Pop3Port, $user, $Password, $c, $Runs, $state)
        $best["pop3 $c headers mailkit"] = $mk.getheader
        $best["pop3 $c headers mailkit batch"] = $mk.getheaders_batch
        $best["pop3 $c body mailkit"] = $mk.getmessage
        $best["pop3 $c body mailkit batch"] = $mk.getmessages_batch
        $best["pop3 $c files mailkit"] = $mk.getstream_files
        if ($python) {
            $pyFolder = (New-Item -ItemType Directory -Path (Join-Path $state "python$c")).FullName
            Read-Mailbox $user
            $times = & $python $peers pop3 127.0.0.1 $instance.Pop3Port $user $Password $c $Runs $pyFolder | ConvertFrom-Json
            if ($LASTEXITCODE -ne 0) { throw "poplib run failed ($LASTEXITCODE)" }
            $best["pop3 $c headers python"] = $times.top
            $best["pop3 $c body python"] = $times.retr
            $best["pop3 $c files python"] = $times.retrfiles
        }
        if ([IO.Directory]::GetFiles((Join-Path $instance.Mail "$user/Maildir/cur")).Length -ne $c) { throw "the $user mailbox changed during the run" }
    }

    # The report: per work, each contender against the Python loop and against MailKit's loop.
    $names = @{
        ours = 'MailProtocols'; mailkit = 'MailKit loop'; 'mailkit batch' = 'MailKit batch (pipelined)'; python = 'Python'; raw = 'raw C#, all at once (server ceiling)'
    }
    $table = [Collections.Generic.List[object]]::new()
    function Add-Rows([string] $Work, [int] $Messages, [string] $Prefix, [string[]] $Contenders, [hashtable] $Label) {
        $py = $best["$Prefix python"]; $mkLoop = $best["$Prefix mailkit"]
        foreach ($who in $Contenders) {
            $seconds = $best["$Prefix $who"]
            if ($null -eq $seconds) { continue }
            $table.Add([pscustomobject]@{
                    Work        = $Work
                    Tool        = $Label[$who] ?? $names[$who]
                    Seconds     = [math]::Round($seconds, 3)
                    MsPerMsg    = [math]::Round($seconds * 1000 / $Messages, 3)
                    CpuMsPerMsg = if ($cpu.Contains("$Prefix $who")) { [math]::Round($cpu["$Prefix $who"] * 1000 / $Messages, 3) } else { '' }
                    KBPerMsg    = if ($alloc.Contains("$Prefix $who")) { [math]::Round($alloc["$Prefix $who"] / 1024 / $Messages, 1) } else { '' }
                    VsPython    = if ($py) { [math]::Round($py / $seconds, 2) } else { 'n/a' }
                    VsMailKit   = if ($mkLoop) { [math]::Round($mkLoop / $seconds, 2) } else { 'n/a' }
                })
        }
    }
    # SMTP rows are compared with smtplib.sendmail (prebuilt text), as in SmtpThroughput.ps1.
    $best['smtp python'] = $best['smtp smtplib text']
    Add-Rows "SMTP $Count, STARTTLS+AUTH" $Count 'smtp' @('ours', 'mailkit', 'smtplib text', 'smtplib composed', 'raw legal', 'raw bdat') @{
        ours = 'Send-SmtpMessage, piped rows'; mailkit = 'MailKit SmtpClient.Send loop'; 'smtplib text' = 'smtplib sendmail (prebuilt text)'
        'smtplib composed' = 'smtplib send_message (EmailMessage)'; 'raw legal' = 'raw C#, legal DATA (waits for 354)'; 'raw bdat' = 'raw C#, BDAT all at once (server ceiling)'
    }
    foreach ($c in $MailboxCounts) {
        Add-Rows "POP3 $c headers" $c "pop3 $c headers" @('ours', 'mailkit', 'mailkit batch', 'python', 'raw') @{
            ours = 'Get-Pop3Message'; mailkit = 'MailKit GetMessageHeaders(i) loop'; 'mailkit batch' = 'MailKit GetMessageHeaders(0, n)'; python = 'poplib TOP n 0 loop'; raw = 'raw C#, all TOP at once (server ceiling)'
        }
        Add-Rows "POP3 $c bodies" $c "pop3 $c body" @('ours', 'ours read', 'mailkit', 'mailkit batch', 'python', 'raw') @{
            ours = 'Get-Pop3Message -IncludeBody'; 'ours read' = 'Get-Pop3Message -IncludeBody, then every TextBody read'; mailkit = 'MailKit GetMessage(i) loop'; 'mailkit batch' = 'MailKit GetMessages(0, n)'; python = 'poplib RETR loop'; raw = 'raw C#, all RETR at once (server ceiling)'
        }
        Add-Rows "POP3 $c to files" $c "pop3 $c files" @('ours', 'mailkit', 'python', 'raw', 'raw syncfs', 'raw fsync') @{
            ours = 'Get-Pop3Message -Destination (durable)'; mailkit = 'MailKit GetStream(i) to files (no fsync)'; python = 'poplib RETR loop writing files (no fsync)'
            raw = 'raw C#, all RETR at once, files (no fsync)'; 'raw syncfs' = 'raw C#, durable: syncfs per 256, rename, folder fsync'
            'raw fsync' = 'raw C#, durable: 8 threads fsync per 256, rename, folder fsync'
        }
    }
    $sizes = foreach ($c in $MailboxCounts) { '{0}: {1:N1} MB' -f $c, ((Get-ChildItem (Join-Path $instance.Mail "pop$c/Maildir/cur") | Measure-Object Length -Sum).Sum / 1MB) }
    Write-Host "Machine: $(nproc) cores, kernel $(uname -r); date $([DateTime]::UtcNow.ToString('yyyy-MM-dd HH:mm')) UTC"
    Write-Host "Postfix $(postconf -d -h mail_version) and Dovecot $((dovecot --version) -replace ' .*') on loopback, STARTTLS/STLS with a self-signed certificate nobody validates; best of $Runs. Mailboxes: $($sizes -join ', ')."
    $table | Format-Table -AutoSize | Out-String -Width 220 | Out-Host
    Write-Host "CpuMsPerMsg: user+system CPU time of this PowerShell process per message while our cmdlet (or a raw client, in-process too) ran; KBPerMsg: bytes allocated on its managed heap per message, the whole process (so the PowerShell pipeline too); the least of $Runs runs, ours after an untimed warm-up run."
    Write-Host 'VsPython / VsMailKit: the time of the Python loop / MailKit loop for the same work divided by the row''s time (above 1: faster).'
    Write-Host 'SMTP compares with smtplib sendmail (prebuilt text); the durable -Destination row makes every file durable, the peers do not fsync.'
    foreach ($c in $(if ($Work -contains 'Pop3') { $MailboxCounts })) {
        # The durable goal against what the protocol plus durability allow here.
        $raw = $best["pop3 $c files raw syncfs"]; $ours = $best["pop3 $c files ours"]; $py = $best["pop3 $c files python"]
        if ($raw -and $ours) {
            $cpuRaw = $cpu["pop3 $c files raw syncfs"]; $cpuOurs = $cpu["pop3 $c files ours"]
            Write-Host ('POP3 {0} to files: raw durable / poplib no-fsync {1}; ours / raw durable {2} (time), {3} (CPU per message).' -f $c, $(if ($py) { [math]::Round($py / $raw, 2) } else { 'n/a' }), [math]::Round($raw / $ours, 2), [math]::Round($cpuRaw / $cpuOurs, 2))
        }
    }
}
finally {
    if ($instance) { Stop-Servers $instance }
    # Under build.ps1 -Task Bench, set aside for deletion after the last benchmark: many files
    # deleted now would slow the next benchmark's file creation (see the POP3 part above).
    if (-not $KeepState) {
        if ($env:MAILPROTOCOLS_BENCH_TRASH) { Move-Item $state $env:MAILPROTOCOLS_BENCH_TRASH }
        else { Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue }
    }
}
