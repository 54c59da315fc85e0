import { describe, expect, it } from 'vitest';
import { parseReference } from './reference';

describe('parseReference', () => {
  it('splits host, port, repository and tag; the tag defaults to latest', () => {
    expect(parseReference('127.0.0.1:5000/team/resnet:1')).toEqual({ registry: '127.0.0.1:5000', repository: 'team/resnet', tag: '1' });
    expect(parseReference('registry.example.com/resnet')).toEqual({ registry: 'registry.example.com', repository: 'resnet', tag: 'latest' });
    expect(parseReference('localhost:5000/a.b_c/d-e:v1.2_x')).toEqual({ registry: 'localhost:5000', repository: 'a.b_c/d-e', tag: 'v1.2_x' });
  });

  it('refuses references a registry would refuse, with a usage error naming the part', () => {
    const cases: [string, RegExp][] = [
      ['resnet:1', /no registry host/],
      ['127.0.0.1:5000/Team/resnet', /component "Team" must be lowercase/],
      ['127.0.0.1:5000/resnet:-bad', /"-bad" is not a valid tag/],
      ['127.0.0.1:99999/resnet', /port 99999 is out of range/],
      ['127.0.0.1:5000/', /no repository/],
      ['127.0.0.1:5000/resnet@sha256:abc', /digests are not accepted/],
    ];
    for (const [ref, why] of cases) {
      expect(() => parseReference(ref), ref).toThrow(why);
      try {
        parseReference(ref);
      } catch (err) {
        expect((err as { code: string }).code).toBe('ACCEL_ERR_USAGE');
      }
    }
  });
});
