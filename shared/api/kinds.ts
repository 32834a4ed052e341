/**
 * What every Cairn kind has in common for CRD generation: group, names and printer columns.
 */
import type { TObject } from '@sinclair/typebox';

export const GROUP = 'backup.cairn.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface KindDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  /** The whole object's schema: apiVersion, kind, metadata, spec, status. */
  schema: TObject;
  printerColumns: PrinterColumn[];
  description: string;
}

export const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
export const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
};
