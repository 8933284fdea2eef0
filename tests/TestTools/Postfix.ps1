# Dot-sourced by the tests and bench/RealServers.ps1: a private Postfix instance (postfix -c DIR,
# its own configuration, queue, data folder and log in a folder the caller gives, nothing under
# /etc), smtpd on one loopback port, SMTP AUTH through a Dovecot auth socket, every message for
# example.com delivered by virtual(8) into one Maildir. A system Postfix, if one runs, is left
# alone.
#
#   $postfix = Start-Postfix -Directory $dir -Port $port -SaslPath $authSocket -MailRoot $mail -MailUser nobody
#   Stop-Postfix $postfix

function Install-Postfix {
    # Installs Postfix with apt-get when it is missing, configured as "No configuration" and with
    # its system daemon left stopped. Returns $null when it is there, else why it is not.
    if (Test-Path /usr/sbin/postfix) { return $null }
    if (-not $IsLinux -or -not (Get-Command apt-get -ErrorAction SilentlyContinue)) { return 'Postfix is missing and there is no apt-get to install it' }
    if ((id -u) -ne '0') { return 'Postfix is missing and installing it needs root' }
    $log = Join-Path ([IO.Path]::GetTempPath()) "postfix-apt-$([guid]::NewGuid().ToString('n')).log"
    $env:DEBIAN_FRONTEND = 'noninteractive'
    'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections *>> $log
    # Without it the package scripts start the system daemon.
    $policy = '/usr/sbin/policy-rc.d'
    $ownPolicy = -not (Test-Path $policy)
    if ($ownPolicy) { Set-Content -LiteralPath $policy -Value "#!/bin/sh`nexit 101"; chmod 755 $policy }
    try {
        $install = { apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 postfix *>> $log; $LASTEXITCODE }
        if ((& $install) -ne 0) {
            apt-get update -q -o DPkg::Lock::Timeout=300 *>> $log
            $null = & $install
        }
    }
    finally {
        if ($ownPolicy) { Remove-Item -LiteralPath $policy -ErrorAction SilentlyContinue }
    }
    $tail = (Get-Content $log -Tail 5 -ErrorAction SilentlyContinue) -join ' / '
    Remove-Item $log -ErrorAction SilentlyContinue
    if (-not (Test-Path /usr/sbin/postfix)) { return "apt-get could not install postfix: $tail" }
    $null
}

function Start-Postfix {
    # Writes main.cf and master.cf under Directory/postfix (queue and data folders beside it: the
    # queue must not sit inside the configuration folder), starts the instance and waits until
    # smtpd listens on 127.0.0.1:Port. Relaying needs a SASL login unless -Setting says otherwise;
    # -Setting adds or overrides main.cf parameters (TLS, restrictions). Returns Port, Log,
    # ConfigDirectory and Maildir (where virtual(8) puts what it accepted).
    param(
        [Parameter(Mandatory)] [string] $Directory,
        [Parameter(Mandatory)] [int] $Port,
        # The Dovecot auth-client socket smtpd asks to verify logins (smtpd_sasl_type = dovecot).
        [Parameter(Mandatory)] [string] $SaslPath,
        # virtual(8) writes MailRoot/sink/Maildir/ as MailUser (its uid must be 100 or above).
        [Parameter(Mandatory)] [string] $MailRoot,
        [Parameter(Mandatory)] [string] $MailUser,
        [Collections.IDictionary] $Setting = @{}
    )
    $why = Install-Postfix
    if ($why) { throw "No Postfix: $why." }

    $configDir = Join-Path $Directory 'postfix'
    $queueDir = Join-Path $Directory 'postfix-queue'
    $dataDir = Join-Path $Directory 'postfix-data'
    $null = New-Item -ItemType Directory -Path $configDir, $queueDir, $dataDir, $MailRoot -Force
    chown postfix $dataDir
    $uid = [int](id -u $MailUser); $gid = [int](id -g $MailUser)
    chown "${uid}:${gid}" $MailRoot
    $log = Join-Path $Directory 'postfix.log'
    $main = [ordered]@{
        compatibility_level     = '3.6'
        queue_directory         = $queueDir
        data_directory          = $dataDir
        maillog_file            = $log
        maillog_file_prefixes   = $Directory
        mail_owner              = 'postfix'
        setgid_group            = 'postdrop'
        myhostname              = 'localhost.localdomain'
        mydestination           = ''
        inet_interfaces         = '127.0.0.1'
        inet_protocols          = 'ipv4'
        mynetworks              = '127.0.0.0/8'
        alias_maps              = ''
        alias_database          = ''
        biff                    = 'no'
        local_transport         = 'error:local delivery is off'
        virtual_mailbox_domains = 'example.com'
        virtual_mailbox_base    = $MailRoot
        virtual_mailbox_maps    = 'static:sink/Maildir/'
        virtual_uid_maps        = "static:$uid"
        virtual_gid_maps        = "static:$gid"
        virtual_minimum_uid     = "$uid"
        smtpd_sasl_auth_enable  = 'yes'
        smtpd_sasl_type         = 'dovecot'
        smtpd_sasl_path         = $SaslPath
        smtpd_relay_restrictions = 'permit_sasl_authenticated, reject'
    }
    foreach ($key in $Setting.Keys) { $main[$key] = $Setting[$key] }
    Set-Content -LiteralPath (Join-Path $configDir 'main.cf') -Value ($main.GetEnumerator() | ForEach-Object { "$($_.Key) = $($_.Value)" })
    # The stock services, none chrooted, smtpd on our own loopback port.
    Set-Content -LiteralPath (Join-Path $configDir 'master.cf') -Value @"
127.0.0.1:$Port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"@

    $instance = [pscustomobject]@{
        ConfigDirectory = $configDir
        QueueDirectory  = $queueDir
        Port            = $Port
        Log             = $log
        Maildir         = Join-Path $MailRoot 'sink/Maildir'
        Started         = $false
    }
    # Through sh into a file: the daemons it starts may keep a captured stdout open.
    $startLog = Join-Path $Directory 'postfix-start.log'
    sh -c "/usr/sbin/postfix -c '$configDir' start >'$startLog' 2>&1"
    if ($LASTEXITCODE -ne 0) {
        throw "postfix -c $configDir start failed ($LASTEXITCODE): $(Get-Content $startLog -Raw -ErrorAction SilentlyContinue) $(Get-Content $log -Tail 20 -ErrorAction SilentlyContinue)"
    }
    $instance.Started = $true
    for ($i = 0; $i -lt 200; $i++) {
        $client = [Net.Sockets.TcpClient]::new()
        try { $client.Connect([Net.IPAddress]::Loopback, $Port); return $instance }
        catch { Start-Sleep -Milliseconds 100 }
        finally { $client.Dispose() }
    }
    Stop-Postfix $instance
    throw "Postfix did not listen on port $Port within 20 s: $(Get-Content $log -Tail 20 -ErrorAction SilentlyContinue)"
}

function Stop-Postfix {
    # Stops the instance and waits, a bounded time, for its master process to exit, so that its
    # folders can be deleted.
    param($Instance)
    if (-not $Instance -or -not $Instance.Started) { return }
    $pidFile = Join-Path $Instance.QueueDirectory 'pid/master.pid'
    # cat: the master holds a lock on its pid file, and .NET refuses to open a locked file.
    $masterId = if (Test-Path $pidFile) { [int]"$(cat $pidFile)".Trim() }
    & /usr/sbin/postfix -c $Instance.ConfigDirectory stop 2>&1 | Out-Null
    $Instance.Started = $false
    for ($i = 0; $masterId -and $i -lt 100 -and (Get-Process -Id $masterId -ErrorAction SilentlyContinue); $i++) { Start-Sleep -Milliseconds 100 }
}
