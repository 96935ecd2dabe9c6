# Regenerates the OpenNebula golden files by running OpenNebula's own table code.
#
# Usage: ruby one_harness.rb ONE_CHECKOUT
#   ONE_CHECKOUT  OpenNebula/one (f847cf2e), for src/cli/cli_helper.rb
#
# For each case of cases.json "one", the table is defined as oneimage_helper.rb and
# oneimage.yaml define it, the options are passed as OpenNebula's option parser would, and the
# output of `ShowTable#show` is written to one/<case>.txt. "tty" makes standard output look like
# a terminal of "width" columns; otherwise there is no terminal at all (no expansion).
require 'json'
require 'stringio'
require File.join(ARGV[0], 'src/cli/cli_helper.rb')

here = File.dirname(File.expand_path(__FILE__))
spec = JSON.parse(File.read(File.join(here, 'cases.json')))['one']
base = spec['base']

class << IO
  def console; nil; end
end

spec['cases'].each do |name, c|
  c = base.merge(c)
  captured = StringIO.new
  tty = c['tty'] || false
  width = c['width']
  captured.define_singleton_method(:isatty) { tty }
  captured.define_singleton_method(:tty?) { tty }
  captured.define_singleton_method(:winsize) { [24, width] }
  cols = c['columns']
  defaults = c['default']
  table = CLIHelper::ShowTable.new(nil, nil) do
    cols.each do |col|
      conf = [{ :size => col['size'] }]
      conf << :left if col['left']
      conf << :adjust if col['adjust']
      conf << { :expand => col['expand'] } if col['expand']
      column(col['name'].to_sym, col['desc'], *conf) do |d|
        d[cols.index(col)]
      end
    end
    default(*defaults)
  end
  opts = {}
  (c['options'] || {}).each {|k, v| opts[k.to_sym] = v }
  $stdout = captured
  begin
    table.show(c['rows'], opts)
  ensure
    $stdout = STDOUT
  end
  File.write(File.join(here, 'one', "#{name}.txt"), captured.string)
end
