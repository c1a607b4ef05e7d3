#!/usr/bin/perl
# Peer benchmark: MARC::Record (Debian libmarc-record-perl) over FILE, the
# same loop as mpbench's full parse: every record parsed, field count and
# 245 $a touched. Prints one JSON object. Single-threaded (perl).
use strict;
use warnings;
use MARC::Batch;
use Time::HiRes qw(time);

my $file = shift or die "usage: peer_marc_record.pl FILE [RUNS]\n";
my $runs = shift // 1;
my @walls;
my ($n, $bad, $sum) = (0, 0, 0);
for my $k (1 .. $runs) {
    ($n, $bad, $sum) = (0, 0, 0);
    my $t0 = time;
    my $batch = MARC::Batch->new('USMARC', $file);
    $batch->strict_off();
    $batch->warnings_off();
    while (1) {
        my $rec = eval { $batch->next };
        if ($@) { $bad++; next; }
        last unless defined $rec;
        $n++;
        my @f = $rec->fields;
        $sum += scalar @f;
        my $t = $rec->field('245');
        $sum += length($t->subfield('a') // '') if $t;
    }
    push @walls, time - $t0;
}
my @s = sort { $a <=> $b } @walls;
my $bytes = -s $file;
printf "{\"mode\":\"perl_marc_record\",\"file\":\"%s\",\"bytes\":%d,\"records\":%d,\"errors\":%d,"
     . "\"checksum\":%d,\"runs\":%d,\"best_s\":%.6f,\"median_s\":%.6f,\"best_mb_s\":%.3f,"
     . "\"best_rec_s\":%.1f}\n",
  $file, $bytes, $n, $bad, $sum, $runs, $s[0], $s[int($#s / 2)], $bytes / 1e6 / $s[0], $n / $s[0];
